"""The one authorization point: every user-facing route names the access it needs, and the
cluster's RBAC decides through a SubjectAccessReview carrying the user's name, uid, groups and
extra. Answers are kept briefly (30 s) so that a page of requests costs one review."""

from __future__ import annotations

import time
from collections import OrderedDict
from collections.abc import Callable

from ferris_operator.ports import Access, User

AccessReview = Callable[[User, Access, str, str], bool]  # user, access, namespace, name


class Authorizer:
    def __init__(self, review: AccessReview, seconds: float = 30.0, size: int = 8192) -> None:
        self.review = review
        self.seconds = seconds
        self.size = size
        self._answers: OrderedDict[tuple[str, Access, str, str], tuple[float, bool]] = OrderedDict()

    def allowed(self, user: User, access: Access, namespace: str, name: str = "", now: float | None = None) -> bool:
        moment = time.monotonic() if now is None else now
        key = (user.key(), access, namespace, name)
        found = self._answers.get(key)
        if found is not None and moment - found[0] < self.seconds:
            return found[1]
        answer = self.review(user, access, namespace, name)
        self._answers[key] = (moment, answer)
        self._answers.move_to_end(key)
        while len(self._answers) > self.size:
            self._answers.popitem(last=False)
        return answer
