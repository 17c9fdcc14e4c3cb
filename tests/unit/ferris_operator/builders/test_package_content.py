"""A package's files packed into shared, content-addressed ConfigMaps."""

from __future__ import annotations

import base64
import copy
import datetime

from ferris_operator.builders import package_content
from ferris_operator.builders.package_content import OBJECT_BYTES, PART_BYTES, holds, pack, sha256

MiB = 1024 * 1024


def test_small_files_share_one_object_each_a_part_under_its_own_key() -> None:
    content = pack("nightly", "uid-1", [("a.py", b"print(1)"), ("data.csv", b"x,y\n")])
    [obj] = content.objects
    assert obj.parts == {sha256(b"print(1)"): b"print(1)", sha256(b"x,y\n"): b"x,y\n"}
    assert content.keys == [[sha256(b"print(1)")], [sha256(b"x,y\n")]]
    assert content.names == [obj.name] and obj.name.startswith("nightly-content-")


def test_the_same_content_gives_the_same_objects_and_other_content_or_another_package_others() -> None:
    files = [("a.py", b"print(1)")]
    assert pack("p", "uid-1", files).names == pack("p", "uid-1", list(files)).names
    assert pack("p", "uid-1", [("a.py", b"print(2)")]).names != pack("p", "uid-1", files).names
    assert pack("p", "uid-2", files).names != pack("p", "uid-1", files).names  # another package's salt, or key's


def test_a_packages_salt_is_the_operators_own_so_a_name_cannot_be_known_before_its_object_exists() -> None:
    from ferris_operator.crypto.run_tokens import RunTokens
    from ferris_operator.ownership import Provenance

    ours = Provenance(RunTokens({"k1": b"\x01" * 32}, "k1"))
    another_install = Provenance(RunTokens({"k1": b"\x02" * 32}, "k1"))
    assert ours.content_salt("uid-1") == ours.content_salt("uid-1") != ours.content_salt("uid-2")
    assert another_install.content_salt("uid-1") != ours.content_salt("uid-1")  # same key id, other key


def test_eight_mib_with_a_five_mib_binary_file_spreads_over_objects_each_below_a_configmaps_limit() -> None:
    blob = bytes(range(256)) * (5 * MiB // 256)
    files = [("model.bin", blob), *[(f"f{i}.txt", bytes([65 + i]) * (438 * 1024)) for i in range(7)]]
    assert 8 * MiB - 8 * 1024 < sum(len(c) for _, c in files) <= 8 * MiB
    content = pack("big", "uid-1", files)
    assert all(obj.size() <= OBJECT_BYTES for obj in content.objects)
    assert len(content.keys[0]) == -(-len(blob) // PART_BYTES) and [len(k) for k in content.keys[1:]] == [1] * 7
    by_key = {key: part for obj in content.objects for key, part in obj.parts.items()}
    assert sum(len(obj.parts) for obj in content.objects) == len(by_key)  # a key is in one object only
    assert b"".join(by_key[key] for key in content.keys[0]) == blob


def test_an_equal_part_is_stored_once() -> None:
    content = pack("p", "uid-1", [("a.txt", b"same"), ("b.txt", b"same")])
    [obj] = content.objects
    assert len(obj.parts) == 1 and content.keys == [[sha256(b"same")]] * 2


def test_text_goes_into_data_and_binary_into_binary_data_and_a_found_object_must_hold_exactly_the_parts() -> None:
    content = pack("p", "uid-1", [("a.py", b"print(1)"), ("logo.png", b"\x89PNG\xff")])
    [obj] = content.objects
    made = package_content.configmap(obj, "team", "p", "uid-1", datetime.datetime(2026, 12, 7, tzinfo=datetime.UTC))
    assert made["data"] == {sha256(b"print(1)"): "print(1)"}
    assert base64.b64decode(made["binaryData"][sha256(b"\x89PNG\xff")]) == b"\x89PNG\xff"
    assert made["immutable"] is True and made["metadata"]["ownerReferences"][0]["uid"] == "uid-1"
    assert holds(made, obj)
    changed = copy.deepcopy(made)
    changed["data"][sha256(b"print(1)")] = "print(2)"
    extra = copy.deepcopy(made)
    extra["data"]["more"] = "x"
    broken = copy.deepcopy(made)
    broken["binaryData"][sha256(b"\x89PNG\xff")] = "!!"
    assert not holds(changed, obj) and not holds(extra, obj) and not holds(broken, obj)


def test_an_empty_file_is_one_empty_part() -> None:
    content = pack("p", "uid-1", [("empty.txt", b"")])
    assert content.keys == [[sha256(b"")]]
