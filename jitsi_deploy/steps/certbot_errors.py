"""Why certbot got no certificate, in one paragraph a person can act on."""

from __future__ import annotations

import re

_REASONS: tuple[tuple[str, str], ...] = (
    (
        r"too many (certificates|failed authorizations|new orders|registrations)|ratelimited",
        "The certificate authority refused because a rate limit was hit (Let's Encrypt allows "
        "5 certificates per week for the same names and 5 failed validations per hour). Nothing "
        "is wrong with the server: wait until the time in the message, use `staging` while "
        "testing, and meanwhile nginx keeps serving the current certificate.",
    ),
    (
        r"nxdomain|dns problem|no valid (a|aaaa) records|servfail|no such host|could not resolve|"
        r"type:\s+dns",
        "The certificate authority could not find the host name in DNS (no A/AAAA record, or a "
        "typo in the name). Create an A (and AAAA, if the server has IPv6) record pointing at "
        "this server, wait for it to propagate, then deploy again.",
    ),
    (
        r"connection refused|timeout|timed out|type:\s+connection|no route to host",
        "The certificate authority could not connect to port 80 of the server (connection "
        "refused or timed out). Open TCP port 80 from the internet in the firewall and the "
        "provider's security group, make sure the DNS record points at THIS server and that "
        "nginx is running, then deploy again.",
    ),
    (
        r"unauthorized|invalid response|non-200 status code",
        "The certificate authority reached a web server for the name, but it did not serve the "
        "challenge file: the name points at another machine (check A and AAAA records: an old "
        "AAAA record is a common cause), or a proxy/CDN in front answers instead of this nginx.",
    ),
    (
        r"failed to establish a new connection|max retries exceeded|unable to reach|"
        r"certificate verify failed",
        "certbot could not talk to the ACME server itself: check outbound HTTPS from the server, "
        "the ACME directory URL, and (for a private CA) that its certificate is trusted.",
    ),
)


def explain_certbot_failure(output: str) -> str:
    """Turn certbot's output of a failed run into one paragraph a person can act on."""
    domains = ", ".join(dict.fromkeys(re.findall(r"Domain:\s*(\S+)", output)))
    detail = re.search(r"Detail:\s*(.+)", output)
    evidence = detail.group(1).strip() if detail else _last_error_line(output)
    reason = next(
        (text for pattern, text in _REASONS if re.search(pattern, output, re.IGNORECASE)),
        "certbot failed for a reason this tool does not recognise; see its output.",
    )
    subject = f"Obtaining a certificate for {domains} failed. " if domains else ""
    said = f' The CA said: "{evidence}".' if evidence else ""
    return f"{subject}{reason}{said}"


def _last_error_line(output: str) -> str:
    lines = [line.strip() for line in output.splitlines() if "error" in line.lower()]
    return lines[-1] if lines else ""
