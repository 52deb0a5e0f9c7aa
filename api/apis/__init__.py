"""One view class per operation (STYLE.md rule 2), grouped by what they report on."""
