"""ssl.principal.mapping.rules: from a client certificate's distinguished name to a user
name, as Kafka's SslPrincipalMapper does.

Rules are a comma-separated list tried in order; the first whose pattern matches the
whole DN gives the name:

    RULE:^CN=(.*?),OU=ServiceUsers.*$/$1/,RULE:^CN=(.*?),OU=(.*?),O=.*$/$1@$2/L,DEFAULT

"RULE:pattern/replacement/" with an optional L or U (lower / upper case the result);
DEFAULT keeps the DN as it is. No matching rule fails the authentication. The DN is in
RFC 2253 form, most specific first ("CN=alice,OU=eng,O=Example"), as Java's
X500Principal.getName() prints it.
"""

from __future__ import annotations

import re
from dataclasses import dataclass

_RULE = r"(DEFAULT)|RULE:((?:\\.|[^\\/])*)/((?:\\.|[^\\/])*)/([LU]?).*?|(.*?)"
_SPLITTER = re.compile(r"\s*(" + _RULE + r")\s*(,\s*|$)")
_PARSER = re.compile(_RULE)


class MappingRuleError(ValueError):
    pass


@dataclass(frozen=True, slots=True)
class Rule:
    pattern: re.Pattern[str] | None  # None: DEFAULT
    replacement: str = ""
    to_lower: bool = False
    to_upper: bool = False

    def apply(self, dn: str) -> str | None:
        if self.pattern is None:
            return dn
        if self.pattern.fullmatch(dn) is None:
            return None
        result = self.pattern.sub(self.replacement, dn)
        if self.to_lower:
            return result.lower()
        if self.to_upper:
            return result.upper()
        return result


def _java_replacement(text: str) -> str:
    """Java's $1 group references become Python's \\g<1>; a Java backslash escape stays literal."""
    out, i = [], 0
    while i < len(text):
        c = text[i]
        if c == "\\" and i + 1 < len(text):
            out.append(text[i + 1].replace("\\", "\\\\"))
            i += 2
        elif c == "$" and i + 1 < len(text) and text[i + 1].isdigit():
            j = i + 1
            while j < len(text) and text[j].isdigit():
                j += 1
            out.append(f"\\g<{text[i + 1:j]}>")
            i = j
        else:
            out.append(c)
            i += 1
    return "".join(out)


def parse_rules(text: str) -> list[Rule]:
    """SslPrincipalMapper.parseRules; MappingRuleError for what Kafka refuses."""
    rules: list[Rule] = []
    text = text.strip()
    if not text:
        return [Rule(None)]
    pos = 0
    while pos < len(text):
        m = _SPLITTER.match(text, pos)
        if m is None or m.end() == pos:
            raise MappingRuleError(f"Invalid rule: {text[pos:]}")
        rule_text = m.group(1)
        pos = m.end()
        parsed = _PARSER.fullmatch(rule_text)
        if parsed is None or parsed.group(5):
            raise MappingRuleError(f"Invalid rule: {rule_text}")
        if parsed.group(1):
            rules.append(Rule(None))
            continue
        try:
            pattern = re.compile(parsed.group(2))
        except re.error as exc:
            raise MappingRuleError(f"Invalid rule: {rule_text}: {exc}") from None
        flag = parsed.group(4)
        rules.append(Rule(pattern, _java_replacement(parsed.group(3)), flag == "L", flag == "U"))
    return rules


def principal_name(dn: str, rules: list[Rule]) -> str:
    """SslPrincipalMapper.getName; MappingRuleError when no rule applies."""
    for rule in rules:
        name = rule.apply(dn)
        if name is not None:
            return name
    raise MappingRuleError(f"No rules apply to {dn}, rules {rules}")
