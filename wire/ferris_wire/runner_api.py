"""The runner's wire, as both sides speak it: the run document the operator seals beside the
bundle and the runner reads, the runner API's routes, the phases a step reports, and the byte
limits of each report. The operator builds and checks with these; the runner sends with them.
Imports nothing: the runner image and the operator image both carry it."""

# No `from __future__ import annotations`: TypedDict must see NotRequired to know apiCA is optional.
from typing import NotRequired, TypedDict

RUN_DOCUMENT_FILE = "run.json"  # its key in the bundle's ConfigMap, and its name in the sealed digests


class ParamFile(TypedDict):
    """A file given for a run's file param: the runner fetches it (PARAM_FILE) and checks it."""

    param: str
    name: str  # the file's own name, as given (no folder)
    bytes: int
    sha256: str  # hex


PARAM_FILES_DIR = ".ferris-params"  # in the work dir: <param>/<name>, the param holding that path


class RunDocument(TypedDict):
    """Non-secret description of a run, sealed by digest into the bundle."""

    runId: str
    runName: str
    namespace: str
    packageName: str
    packageId: str
    params: dict[str, object]
    config: dict[str, object]
    steps: list[str]  # the scripts run, in order (the entrypoint's first)
    files: list[str]  # every file's name, by its index in the bundle
    contentKeys: list[list[str]]  # by file index, the keys (SHA-256s) of its parts in the scripts volume, in order
    maskSecrets: bool
    secretsInArgv: bool
    secretsVersion: int
    apiCA: NotRequired[str]  # the CA the runner trusts for the runner API (PEM); absent: the system's
    firstStep: NotRequired[int]  # a rerun from a step: the index of the first step run; those before are Skipped
    sqlConnectionSecret: NotRequired[str]  # .sql steps: the package secret holding the database's URL
    sqlTransaction: NotRequired[str]  # "single" (the default: a .sql file is one transaction) or "perStatement"
    sqlMaxRows: NotRequired[int]  # rows of a result printed
    paramFiles: NotRequired[list[ParamFile]]  # the files given for file params, fetched through the runner API


# The phases of a step, as the runner reports them and the operator stores them.
STEP_RUNNING, STEP_SUCCEEDED, STEP_FAILED, STEP_SKIPPED = "Running", "Succeeded", "Failed", "Skipped"
STEP_PHASES = frozenset({STEP_RUNNING, STEP_SUCCEEDED, STEP_FAILED, STEP_SKIPPED})

# Routes: a run's own prefix, then each call under it ({name} as the server matches it).
RUN_PREFIX = "/v1/runs/{uid}"
STEP = "/steps/{idx}"  # POST a step's report
CHUNK = "/steps/{idx}/chunks"  # POST a running step's next lines: {"offset": N, "text": ...}
FINISH = "/finish"  # POST the run's verdict
STATE = "/state"  # GET the package's state
STATE_KEY = "/state/{key}"  # PUT one key of it
RETRIES = "/retries"  # POST a retry request
EVENTS = "/events"  # POST a CloudEvent
SCOPE_WRITE = "/secrets/{name}"  # PUT a secret into a scope
OUTPUT = "/outputs/{name}"  # PUT one of the run's outputs
PARAM_FILE = "/param-files/{param}"  # GET the file given for a file param

# Limits of what the runner may send, in bytes: the server refuses more; the runner trims to fit.
MAX_OUTPUT_CHARS = 4 * 1024 * 1024  # a step's output in one report
MAX_STEP_BODY = MAX_OUTPUT_CHARS + 64 * 1024
MAX_FINISH_BODY = 8 * 1024
# A running step's output goes live in chunks: at most one a second, each at most this many
# characters, none past the step's MAX_OUTPUT_CHARS (the step's last report keeps the rest).
MAX_CHUNK_CHARS = 256 * 1024
MAX_CHUNK_BODY = 6 * MAX_CHUNK_CHARS + 1024  # a character may take six bytes in JSON (\u0001)
MAX_CHUNKS_PER_STEP = 36_000  # after an hour the runner sends every 5 s: about 46 hours live
LIVE_INTERVAL_SECONDS = 1.0
MAX_STATE_BODY = 64 * 1024
MAX_RETRY_BODY = 64 * 1024
MAX_SECRET_BODY = 64 * 1024
MAX_OUTPUTS_BYTES = 64 * 1024  # a run's outputs together, as compact JSON
MAX_OUTPUTS = 64  # names a run may set
MAX_OUTPUT_BODY = MAX_OUTPUTS_BYTES + 1024
