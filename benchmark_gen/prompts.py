"""Prompts of the LLM-written benchmark generator (the paper's five steps), in one place.

Versioned: a change here changes the cases a seed produces, so bump PROMPT_VERSION with it.
Short prompts with one concrete instruction each: small local models follow those best.
"""

from __future__ import annotations

PROMPT_VERSION = "3"
DELIMITER = "@@@"

SYSTEM = "You are an expert programmer. Answer with exactly what is asked, nothing else."

SNIPPET_DESCRIPTIONS = {
    "function_call": "a function call (one call expression, with its arguments)",
    "subexpression": "a subexpression (part of a larger expression, e.g. an arithmetic or comparison)",
    "constant": "a constant literal (a number or a string)",
    "loop_condition": "the condition of a loop (only the condition, not the whole loop)",
    "variable_assignment": "a variable assignment (one whole assignment statement)",
    "code_block": "the body of a loop or an if statement (a block of several lines)",
}

LANGUAGE_NAMES = {
    "python": "Python",
    "javascript": "JavaScript",
    "typescript": "TypeScript",
    "java": "Java",
    "go": "Go",
    "rust": "Rust",
    "c": "C",
    "cpp": "C++",
}

THEMES = (
    "text processing",
    "a small game",
    "inventory or shopping",
    "dates and times",
    "statistics",
    "a queue or stack",
    "file paths",
    "grades of students",
    "a bank account",
    "matrices",
    "temperatures",
    "parsing a simple format",
    "a to-do list",
    "prime numbers",
    "a recipe scaler",
    "a library catalog",
)


def problem(language: str, theme: str) -> str:
    return (
        f"Invent a small programming problem about {theme} that can be solved in about 20 lines "
        f"of {LANGUAGE_NAMES[language]}, with at least one loop. Describe it in two sentences."
    )


def program(language: str, problem_text: str) -> str:
    return (
        f"Write a complete {LANGUAGE_NAMES[language]} program (15 to 35 lines) that solves this problem, "
        f"including the code that uses it:\n{problem_text}\n"
        "Reply with only the code in one code block."
    )


def mark(language: str, snippet_type: str, code: str) -> str:
    return (
        f"Here is a {LANGUAGE_NAMES[language]} program:\n```\n{code}\n```\n"
        f"Copy exactly one snippet from the program above that is {SNIPPET_DESCRIPTIONS[snippet_type]}. "
        "It must appear in the program as written. Reply with only that snippet, copied character for "
        "character, in one code block."
    )


def mark_retry(error: str) -> str:
    return f"That is not right: {error}. Copy a snippet that is in the program, exactly as written there."


def copy_updated(language: str, snippet: str, new_code: str) -> str:
    return (
        f"This snippet was marked in a {LANGUAGE_NAMES[language]} program:\n```\n{snippet}\n```\n"
        f"Here is the program after an update:\n```\n{new_code}\n```\n"
        "Copy the code in the updated program that corresponds to the marked snippet (it may have "
        "been changed by the update). Reply with only that code, copied character for character, "
        "in one code block."
    )


def update(language: str, code_marked: str, partial: bool) -> str:
    kind = (
        "Describe a realistic change a programmer would start making to this program, but only "
        "half finish (the program is in the middle of being edited)"
        if partial
        else "Describe a realistic change a programmer would make to this program (a new feature, a fix, "
        "or a refactoring) that also changes the code around the part marked with "
        f"{DELIMITER}...{DELIMITER}"
    )
    return f"```\n{code_marked}\n```\n{kind}. Answer in one or two sentences, no code."


def updated_program(language: str, code_marked: str, change: str) -> str:
    return (
        f"Here is a {LANGUAGE_NAMES[language]} program. One snippet is marked: it starts and ends with "
        f"{DELIMITER}.\n```\n{code_marked}\n```\n"
        f"Rewrite the whole program with this change: {change}\n"
        f"Keep the marker: put {DELIMITER} before and after the code that corresponds to the marked "
        f"snippet in the new program (exactly two {DELIMITER} in total). Reply with only the code in one "
        "code block."
    )
