"""Check mode diffs files that hold secrets with the secrets masked: a changed setting beside
them shows, a changed secret shows as a changed line without its value, old or new."""

from __future__ import annotations

from jitsi_deploy.model import xmpp_tls
from jitsi_deploy.model.managed import File
from jitsi_deploy.steps.changes import MASK, file_diff, mask_secrets

OLD_ENV = "XMPP_DOMAIN=meet.jitsi\nJVB_AUTH_PASSWORD=old-secret-1\nTZ=UTC\n"
NEW_ENV = "XMPP_DOMAIN=meet.jitsi\nJVB_AUTH_PASSWORD=new-secret-2\nTZ=Europe/Berlin\n"
OLD_POLICY = """\
-- Holds room passwords: keep it readable by Prosody only.
room_policy_default_password = "default-pw-3"
room_policy_room_passwords = {
    ["private-board"] = "board-pw-4";
}
room_policy_other_rooms = "allow"
"""
NEW_POLICY = OLD_POLICY.replace('"allow"', '"deny"').replace("board-pw-4", "board-pw-5")
HEALTH = (
    "CONTAINER_PUSHES=(\n  'web http://127.0.0.1:3001/api/push/tok3n6'\n)\nFAILS=2\n"
    "WEBHOOK_URL='https://hooks.example.org/services/T0/B0/h00kpath'\n"
)


def test_a_secret_file_shows_its_settings_and_hides_every_secret() -> None:
    diff = file_diff(File("/opt/jitsi-meet/.env", NEW_ENV.encode(), 0o600), OLD_ENV)
    assert "-TZ=UTC\n" in diff and "+TZ=Europe/Berlin\n" in diff
    assert f" JVB_AUTH_PASSWORD={MASK}\n" in diff  # unchanged once masked: context only
    assert "secret-1" not in diff and "secret-2" not in diff


def test_a_table_of_room_passwords_is_masked_to_its_closing_brace() -> None:
    policy = File("/x/room-policy.cfg.lua", NEW_POLICY.encode(), 0o600)
    diff = file_diff(policy, OLD_POLICY)
    assert '+room_policy_other_rooms = "deny"' in diff
    assert '    ["private-board"] =' + MASK in diff
    # Comments name secrets but never hold them: they stay as they are.
    assert mask_secrets(OLD_POLICY).startswith("-- Holds room passwords: keep it readable")
    for secret in ("default-pw-3", "board-pw-4", "board-pw-5"):
        assert secret not in diff


def test_push_tokens_are_masked_inside_their_urls() -> None:
    health = File("/etc/jitsi-deploy/health.conf", HEALTH.replace("2", "3").encode(), 0o600)
    diff = file_diff(health, HEALTH)
    assert f"/api/push/{MASK}'" in diff and "tok3n6" not in diff and "+FAILS=3" in diff
    assert f"WEBHOOK_URL={MASK}" in diff and "h00kpath" not in diff


def test_a_public_file_diffs_as_it_is() -> None:
    diff = file_diff(File("/etc/x.conf", b"password=shown\n", 0o644), "password=old\n")
    assert "+password=shown" in diff and "-password=old" in diff


def test_a_private_key_shows_no_line_of_its_own() -> None:
    """The core's XMPP key (model/xmpp_tls.py): a new key is a changed file, never its body."""
    old, new = (xmpp_tls.key_pem(xmpp_tls.XMPP_TLS_KEY.make()) for _ in range(2))
    diff = file_diff(File("/x/auth.meet.jitsi.key", new, 0o600), old.decode())
    body = [line for text in (old, new) for line in text.decode().splitlines()[1:-1]]
    assert body and not any(line in diff for line in body)
    assert " -----BEGIN PRIVATE KEY-----\n" in diff
    assert f"-{MASK} (sha256 " in diff and f"+{MASK} (sha256 " in diff, "a new key shows"


def test_a_file_its_group_reads_is_private_too() -> None:
    """coturn's settings: root:turnserver 0640, the shared secret inside."""
    old = "realm=turn.example.org\nstatic-auth-secret=old-turn-6\n"
    new = "realm=turn.example.net\nstatic-auth-secret=new-turn-7\n"
    diff = file_diff(File("/etc/jitsi-deploy/turnserver.conf", new.encode(), 0o640), old)
    assert "+realm=turn.example.net\n" in diff
    assert "turn-6" not in diff and "turn-7" not in diff
    assert f"+static-auth-secret={MASK}\n" not in diff, "the same masked line: no change shown"
