"""Asset checks of the API plays: the users' authorization is valid, no plays were missed, the poll's
rows are stored as reported."""

from typing import Any

import dagster as dg

from orchestration.db import connect
from orchestration.defs.shared.keys import API_PLAYS
from orchestration.defs.shared.load_checks import load_check_result
from orchestration.spotify.links import users_needing_reauth
from orchestration.spotify.storage import SyncResult

TOKEN_CHECK = "spotify_authorization_valid"
GAP_CHECK = "no_missed_plays"
ROWS_CHECK = "sync_rows_stored"

check_specs = [
    dg.AssetCheckSpec(
        TOKEN_CHECK,
        asset=API_PLAYS,
        description="Fails while a linked user's Spotify authorization was refused (status needs_reauth): "
        "they must run `spotify-history auth login --user NAME` again. Their data is kept.",
    ),
    dg.AssetCheckSpec(
        GAP_CHECK,
        asset=API_PLAYS,
        description="Warns when a poll found a full page of new plays that does not reach the plays already "
        "stored: plays in between were lost (poll more often).",
    ),
    dg.AssetCheckSpec(
        ROWS_CHECK,
        asset=API_PLAYS,
        description="The plays this run wrote are all there: as many as it reported new, all of its user, every "
        "play time between 2006 and a day after loading.",
    ),
]


def _token_check(names: list[str]) -> tuple[bool, dict[str, Any], str | None]:
    description = None
    if names:
        description = "must authorize again: " + "; ".join(f"spotify-history auth login --user {n}" for n in names)
    return not names, {"users_needing_reauth": dg.MetadataValue.json(names)}, description


def token_check_result() -> dg.AssetCheckResult:
    """The token check over every linked user (not just this run's), so the latest result is the truth."""
    with connect() as conn:
        names = users_needing_reauth(conn)
    passed, metadata, description = _token_check(names)
    return dg.AssetCheckResult(check_name=TOKEN_CHECK, passed=passed, metadata=metadata, description=description)


def token_check_evaluation(names: list[str]) -> dg.AssetCheckEvaluation:
    passed, metadata, description = _token_check(names)
    return dg.AssetCheckEvaluation(
        asset_key=API_PLAYS,
        check_name=TOKEN_CHECK,
        passed=passed,
        metadata=metadata,
        severity=dg.AssetCheckSeverity.ERROR,
        description=description,
    )


def gap_check_result(user: str, result: SyncResult) -> dg.AssetCheckResult:
    return dg.AssetCheckResult(
        check_name=GAP_CHECK,
        passed=not result.gap_detected,
        severity=dg.AssetCheckSeverity.WARN,
        metadata={"user": user, "sync_id": result.sync_id, "kind": result.kind},
        description=f"plays of {user} may be missing before {iso(result.oldest_played_at)}"
        if result.gap_detected
        else None,
    )


def iso(moment: Any) -> str:
    return moment.isoformat(timespec="milliseconds") if moment else "-"


def rows_check_result(result: SyncResult) -> dg.AssetCheckResult:
    return load_check_result(ROWS_CHECK, "api_recently_played", result.sync_id, result.user_id, result.inserted)
