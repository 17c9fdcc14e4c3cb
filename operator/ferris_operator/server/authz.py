"""The one authorization point: every user-facing route names the access it needs, and the
cluster's RBAC decides through a SubjectAccessReview carrying the user's name, uid, groups and
extra. Answers are kept briefly (30 s) so that a page of requests costs one review.

Each user's reviews that the cache does not answer come from a bucket of their own (a burst of
100, then 2 a second): a user who asks about made-up namespaces, eleven reviews each for
``/permissions``, gets 429 after the burst instead of a stream of reviews for the API server,
and everyone else is answered as before. Kubernetes has no review of another user's rules in a
namespace (``SelfSubjectRulesReview`` is for the caller itself; asking it as the user would
need the right to impersonate anyone), so the bound is on the reviews."""

from __future__ import annotations

import threading
import time
from collections import OrderedDict
from collections.abc import Callable

from ferris_operator.records import Access, User
from ferris_operator.work.ratelimit import TokenBuckets

AccessReview = Callable[[User, Access, str, str], bool]  # user, access, namespace, name
REVIEW_BURST, REVIEWS_PER_SECOND = 100, 2.0


class TooManyReviews(Exception):
    """The user has spent their reviews; ``retry_after`` seconds until the next one."""

    def __init__(self, user: str, retry_after: int) -> None:
        super().__init__(
            f"user {user!r} asked about more rights than the server checks for one user at a time"
            f" ({REVIEW_BURST} at once, then {REVIEWS_PER_SECOND:g} a second); retry in {retry_after} s"
        )
        self.retry_after = retry_after


class Authorizer:
    def __init__(
        self, review: AccessReview, seconds: float = 30.0, size: int = 8192, budget: TokenBuckets | None = None
    ) -> None:
        self.review = review
        self.seconds = seconds
        self.size = size
        self.budget = budget or TokenBuckets(REVIEW_BURST, REVIEWS_PER_SECOND)
        self._lock = threading.Lock()  # answered from threads
        self._answers: OrderedDict[tuple[str, Access, str, str], tuple[float, bool]] = OrderedDict()

    def allowed(self, user: User, access: Access, namespace: str, name: str = "", now: float | None = None) -> bool:
        moment = time.monotonic() if now is None else now
        key = (user.key(), access, namespace, name)
        with self._lock:
            found = self._answers.get(key)
            if found is not None and moment - found[0] < self.seconds:
                return found[1]
            who = user.person()
            if self.budget.blocked(who):
                raise TooManyReviews(user.name, self.budget.retry_after(who))
            self.budget.spend(who)
        answer = self.review(user, access, namespace, name)
        with self._lock:
            self._answers[key] = (moment, answer)
            self._answers.move_to_end(key)
            while len(self._answers) > self.size:
                self._answers.popitem(last=False)
        return answer
