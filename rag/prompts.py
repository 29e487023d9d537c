"""User-facing fixed texts (and, later, LLM prompts) in one place."""

ABSTAIN = {
    "en": "The documents don't contain the answer to this question. The closest passages are listed below.",
    "fr": "Les documents ne contiennent pas la réponse à cette question. Les passages les plus proches "
    "sont listés ci-dessous.",
}


def abstain_message(language: str) -> str:
    return ABSTAIN.get(language, ABSTAIN["en"])
