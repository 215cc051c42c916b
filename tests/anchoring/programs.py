"""Hand-written programs in every supported language, each with the same cast of snippets
(a call, a statement, a loop, a constant expression, a function that gets deleted), so one set
of edit recipes exercises the engine in all of them."""

from __future__ import annotations

from dataclasses import dataclass


@dataclass(frozen=True)
class Program:
    language: str
    base: str
    call: str  # a call inside compute()
    call_reformatted: str  # the same call, re-wrapped over lines
    method_call: str  # the call turned into a method call
    stmt: str  # the statement holding the call (one line, no indentation)
    stmt_line: str  # that statement's full line in base (with indentation, without newline)
    stmt_wrapped: str  # replacement lines: the statement wrapped in a block
    loop: str  # the whole loop in compute()
    loop_rewritten: str  # the loop after a rewrite of its header and body
    const_expr: str  # an expression with a constant
    const_changed: str  # the constant changed
    compute_head: str  # text that starts compute() (to locate the original call)
    dup_fn: str  # a new function, inserted before compute(), containing `call` too
    deleted_fn: str  # a whole function that gets deleted (with its trailing blank lines)
    deleted_piece: str  # a snippet inside deleted_fn that is tagged
    insert_above: str  # unrelated code inserted at the top


PYTHON = Program(
    language="python",
    base="""import math


def helper(value, factor):
    return value * factor


def compute(items, limit):
    total = 0
    for item in items:
        if item > limit:
            total = total + helper(item, 2)
    return total * 42


def report(values):
    print("total", compute(values, 10))
""",
    call="helper(item, 2)",
    call_reformatted="helper(\n                item,\n                2,\n            )",
    method_call="self.helper(item, 2)",
    stmt="total = total + helper(item, 2)",
    stmt_line="            total = total + helper(item, 2)",
    stmt_wrapped="            try:\n                total = total + helper(item, 2)\n            except ValueError:\n                pass",
    loop="for item in items:\n        if item > limit:\n            total = total + helper(item, 2)",
    loop_rewritten="for item in sorted(items):\n        if item >= limit:\n            total = total + helper(item, 2)",
    const_expr="total * 42",
    const_changed="total * 43",
    compute_head="def compute(",
    dup_fn="def twice(item):\n    return helper(item, 2) + helper(item, 2)\n\n\n",
    deleted_fn='def report(values):\n    print("total", compute(values, 10))\n',
    deleted_piece='print("total", compute(values, 10))',
    insert_above='"""Module docstring added later."""\nimport os\nimport sys\n\nDEBUG = os.environ.get("DEBUG")\n',
)

JAVASCRIPT = Program(
    language="javascript",
    base="""const math = require("math");

function helper(value, factor) {
  return value * factor;
}

function compute(items, limit) {
  let total = 0;
  for (const item of items) {
    if (item > limit) {
      total = total + helper(item, 2);
    }
  }
  return total * 42;
}

function report(values) {
  console.log("total", compute(values, 10));
}

module.exports = { compute };
""",
    call="helper(item, 2)",
    call_reformatted="helper(\n        item,\n        2,\n      )",
    method_call="this.helper(item, 2)",
    stmt="total = total + helper(item, 2);",
    stmt_line="      total = total + helper(item, 2);",
    stmt_wrapped="      try {\n        total = total + helper(item, 2);\n      } catch (err) {\n        console.error(err);\n      }",
    loop="for (const item of items) {\n    if (item > limit) {\n      total = total + helper(item, 2);\n    }\n  }",
    loop_rewritten="for (const item of items.slice().sort()) {\n    if (item >= limit) {\n      total = total + helper(item, 2);\n    }\n  }",
    const_expr="total * 42",
    const_changed="total * 43",
    compute_head="function compute(",
    dup_fn="function twice(item) {\n  return helper(item, 2) + helper(item, 2);\n}\n\n",
    deleted_fn='function report(values) {\n  console.log("total", compute(values, 10));\n}\n\n',
    deleted_piece='console.log("total", compute(values, 10));',
    insert_above='"use strict";\nconst fs = require("fs");\nconst path = require("path");\n\n',
)

TYPESCRIPT = Program(
    language="typescript",
    base="""import { log } from "./log";

function helper(value: number, factor: number): number {
  return value * factor;
}

export function compute(items: number[], limit: number): number {
  let total: number = 0;
  for (const item of items) {
    if (item > limit) {
      total = total + helper(item, 2);
    }
  }
  return total * 42;
}

function report(values: number[]): void {
  log("total", compute(values, 10));
}
""",
    call="helper(item, 2)",
    call_reformatted="helper(\n        item,\n        2,\n      )",
    method_call="this.helper(item, 2)",
    stmt="total = total + helper(item, 2);",
    stmt_line="      total = total + helper(item, 2);",
    stmt_wrapped="      if (Number.isFinite(item)) {\n        total = total + helper(item, 2);\n      }",
    loop="for (const item of items) {\n    if (item > limit) {\n      total = total + helper(item, 2);\n    }\n  }",
    loop_rewritten="for (const item of [...items].sort()) {\n    if (item >= limit) {\n      total = total + helper(item, 2);\n    }\n  }",
    const_expr="total * 42",
    const_changed="total * 43",
    compute_head="export function compute(",
    dup_fn="function twice(item: number): number {\n  return helper(item, 2) + helper(item, 2);\n}\n\n",
    deleted_fn='function report(values: number[]): void {\n  log("total", compute(values, 10));\n}\n',
    deleted_piece='log("total", compute(values, 10));',
    insert_above='import { readFileSync } from "fs";\n\ntype Row = { id: number; name: string };\nconst ROWS: Row[] = [];\n\n',
)

TSX = Program(
    language="tsx",
    base="""import React from "react";

function helper(value: number, factor: number): number {
  return value * factor;
}

export function compute(items: number[], limit: number): number {
  let total = 0;
  for (const item of items) {
    if (item > limit) {
      total = total + helper(item, 2);
    }
  }
  return total * 42;
}

export function Report({ values }: { values: number[] }) {
  return <div className="total">{compute(values, 10)}</div>;
}
""",
    call="helper(item, 2)",
    call_reformatted="helper(\n        item,\n        2,\n      )",
    method_call="this.helper(item, 2)",
    stmt="total = total + helper(item, 2);",
    stmt_line="      total = total + helper(item, 2);",
    stmt_wrapped="      if (Number.isFinite(item)) {\n        total = total + helper(item, 2);\n      }",
    loop="for (const item of items) {\n    if (item > limit) {\n      total = total + helper(item, 2);\n    }\n  }",
    loop_rewritten="for (const item of [...items].sort()) {\n    if (item >= limit) {\n      total = total + helper(item, 2);\n    }\n  }",
    const_expr="total * 42",
    const_changed="total * 43",
    compute_head="export function compute(",
    dup_fn="function twice(item: number): number {\n  return helper(item, 2) + helper(item, 2);\n}\n\n",
    deleted_fn='export function Report({ values }: { values: number[] }) {\n  return <div className="total">{compute(values, 10)}</div>;\n}\n',
    deleted_piece='<div className="total">{compute(values, 10)}</div>',
    insert_above='import { useState } from "react";\n\nconst Title = () => <h1>Totals</h1>;\n\n',
)

C = Program(
    language="c",
    base="""#include <stdio.h>

static int helper(int value, int factor) {
    return value * factor;
}

int compute(const int *items, int n, int limit) {
    int total = 0;
    for (int i = 0; i < n; i++) {
        if (items[i] > limit) {
            total = total + helper(items[i], 2);
        }
    }
    return total * 42;
}

void report(const int *values, int n) {
    printf("total %d\\n", compute(values, n, 10));
}
""",
    call="helper(items[i], 2)",
    call_reformatted="helper(\n                items[i],\n                2)",
    method_call="ctx->helper(items[i], 2)",
    stmt="total = total + helper(items[i], 2);",
    stmt_line="            total = total + helper(items[i], 2);",
    stmt_wrapped="            if (items[i] != 0) {\n                total = total + helper(items[i], 2);\n            }",
    loop="for (int i = 0; i < n; i++) {\n        if (items[i] > limit) {\n            total = total + helper(items[i], 2);\n        }\n    }",
    loop_rewritten="for (int i = n - 1; i >= 0; i--) {\n        if (items[i] >= limit) {\n            total = total + helper(items[i], 2);\n        }\n    }",
    const_expr="total * 42",
    const_changed="total * 43",
    compute_head="int compute(",
    dup_fn="static int twice(const int *items, int i) {\n    return helper(items[i], 2) + helper(items[i], 2);\n}\n\n",
    deleted_fn='void report(const int *values, int n) {\n    printf("total %d\\n", compute(values, n, 10));\n}\n',
    deleted_piece='printf("total %d\\n", compute(values, n, 10));',
    insert_above="#include <stdlib.h>\n#include <string.h>\n\n#define MAX_ITEMS 128\n\n",
)

CPP = Program(
    language="cpp",
    base="""#include <vector>
#include <iostream>

namespace calc {

int helper(int value, int factor) {
    return value * factor;
}

int compute(const std::vector<int>& items, int limit) {
    int total = 0;
    for (int item : items) {
        if (item > limit) {
            total = total + helper(item, 2);
        }
    }
    return total * 42;
}

void report(const std::vector<int>& values) {
    std::cout << "total " << compute(values, 10) << std::endl;
}

}  // namespace calc
""",
    call="helper(item, 2)",
    call_reformatted="helper(\n                item,\n                2)",
    method_call="this->helper(item, 2)",
    stmt="total = total + helper(item, 2);",
    stmt_line="            total = total + helper(item, 2);",
    stmt_wrapped="            try {\n                total = total + helper(item, 2);\n            } catch (...) {\n                throw;\n            }",
    loop="for (int item : items) {\n        if (item > limit) {\n            total = total + helper(item, 2);\n        }\n    }",
    loop_rewritten="for (const int& item : items) {\n        if (item >= limit) {\n            total = total + helper(item, 2);\n        }\n    }",
    const_expr="total * 42",
    const_changed="total * 43",
    compute_head="int compute(",
    dup_fn="int twice(int item) {\n    return helper(item, 2) + helper(item, 2);\n}\n\n",
    deleted_fn='void report(const std::vector<int>& values) {\n    std::cout << "total " << compute(values, 10) << std::endl;\n}\n\n',
    deleted_piece='std::cout << "total " << compute(values, 10) << std::endl;',
    insert_above="#include <string>\n#include <map>\n\nusing Table = std::map<std::string, int>;\n\n",
)

JAVA = Program(
    language="java",
    base="""package calc;

import java.util.List;

public class Calc {
    static int helper(int value, int factor) {
        return value * factor;
    }

    static int compute(List<Integer> items, int limit) {
        int total = 0;
        for (int item : items) {
            if (item > limit) {
                total = total + helper(item, 2);
            }
        }
        return total * 42;
    }

    static void report(List<Integer> values) {
        System.out.println("total " + compute(values, 10));
    }
}
""",
    call="helper(item, 2)",
    call_reformatted="helper(\n                    item,\n                    2)",
    method_call="this.helper(item, 2)",
    stmt="total = total + helper(item, 2);",
    stmt_line="                total = total + helper(item, 2);",
    stmt_wrapped="                try {\n                    total = total + helper(item, 2);\n                } catch (ArithmeticException e) {\n                    throw e;\n                }",
    loop="for (int item : items) {\n            if (item > limit) {\n                total = total + helper(item, 2);\n            }\n        }",
    loop_rewritten="for (Integer item : items) {\n            if (item >= limit) {\n                total = total + helper(item, 2);\n            }\n        }",
    const_expr="total * 42",
    const_changed="total * 43",
    compute_head="static int compute(",
    dup_fn="static int twice(int item) {\n        return helper(item, 2) + helper(item, 2);\n    }\n\n    ",
    deleted_fn='static void report(List<Integer> values) {\n        System.out.println("total " + compute(values, 10));\n    }\n',
    deleted_piece='System.out.println("total " + compute(values, 10));',
    insert_above="// Copyright notice added later.\n// Licensed under the MIT licence.\n\n",
)

GO = Program(
    language="go",
    base="""package calc

import "fmt"

func helper(value int, factor int) int {
\treturn value * factor
}

func Compute(items []int, limit int) int {
\ttotal := 0
\tfor _, item := range items {
\t\tif item > limit {
\t\t\ttotal = total + helper(item, 2)
\t\t}
\t}
\treturn total * 42
}

func Report(values []int) {
\tfmt.Println("total", Compute(values, 10))
}
""",
    call="helper(item, 2)",
    call_reformatted="helper(\n\t\t\t\titem,\n\t\t\t\t2,\n\t\t\t)",
    method_call="c.helper(item, 2)",
    stmt="total = total + helper(item, 2)",
    stmt_line="\t\t\ttotal = total + helper(item, 2)",
    stmt_wrapped="\t\t\tif item != 0 {\n\t\t\t\ttotal = total + helper(item, 2)\n\t\t\t}",
    loop="for _, item := range items {\n\t\tif item > limit {\n\t\t\ttotal = total + helper(item, 2)\n\t\t}\n\t}",
    loop_rewritten="for i := len(items) - 1; i >= 0; i-- {\n\t\titem := items[i]\n\t\tif item >= limit {\n\t\t\ttotal = total + helper(item, 2)\n\t\t}\n\t}",
    const_expr="total * 42",
    const_changed="total * 43",
    compute_head="func Compute(",
    dup_fn="func twice(item int) int {\n\treturn helper(item, 2) + helper(item, 2)\n}\n\n",
    deleted_fn='func Report(values []int) {\n\tfmt.Println("total", Compute(values, 10))\n}\n',
    deleted_piece='fmt.Println("total", Compute(values, 10))',
    insert_above="// Package calc computes totals.\n\nconst maxItems = 128\n\n",
)

RUST = Program(
    language="rust",
    base="""use std::fmt;

fn helper(value: i64, factor: i64) -> i64 {
    value * factor
}

pub fn compute(items: &[i64], limit: i64) -> i64 {
    let mut total = 0;
    for item in items.iter() {
        if *item > limit {
            total = total + helper(*item, 2);
        }
    }
    total * 42
}

pub fn report(values: &[i64]) {
    println!("total {}", compute(values, 10));
}
""",
    call="helper(*item, 2)",
    call_reformatted="helper(\n                *item,\n                2,\n            )",
    method_call="self.helper(*item, 2)",
    stmt="total = total + helper(*item, 2);",
    stmt_line="            total = total + helper(*item, 2);",
    stmt_wrapped="            if *item != 0 {\n                total = total + helper(*item, 2);\n            }",
    loop="for item in items.iter() {\n        if *item > limit {\n            total = total + helper(*item, 2);\n        }\n    }",
    loop_rewritten="for item in items.iter().rev() {\n        if *item >= limit {\n            total = total + helper(*item, 2);\n        }\n    }",
    const_expr="total * 42",
    const_changed="total * 43",
    compute_head="pub fn compute(",
    dup_fn="fn twice(item: &i64) -> i64 {\n    helper(*item, 2) + helper(*item, 2)\n}\n\n",
    deleted_fn='pub fn report(values: &[i64]) {\n    println!("total {}", compute(values, 10));\n}\n',
    deleted_piece='println!("total {}", compute(values, 10));',
    insert_above="//! Totals.\nuse std::collections::HashMap;\n\nconst MAX_ITEMS: usize = 128;\n\n",
)

RACKET = Program(
    language="racket",
    base="""#lang racket

(define (helper value factor)
  (* value factor))

(define (compute items limit)
  (define total 0)
  (for ([item items])
    (when (> item limit)
      (set! total (+ total (helper item 2)))))
  (* total 42))

(define (report values)
  (printf "total ~a\\n" (compute values 10)))

(provide compute)
""",
    call="(helper item 2)",
    call_reformatted="(helper\n                     item\n                     2)",
    method_call="(send calc helper item 2)",
    stmt="(set! total (+ total (helper item 2)))",
    stmt_line="      (set! total (+ total (helper item 2)))))",
    stmt_wrapped="      (with-handlers ([exn:fail? void])\n        (set! total (+ total (helper item 2))))))",
    loop="(for ([item items])\n    (when (> item limit)\n      (set! total (+ total (helper item 2)))))",
    loop_rewritten="(for ([item (sort items <)])\n    (when (>= item limit)\n      (set! total (+ total (helper item 2)))))",
    const_expr="(* total 42)",
    const_changed="(* total 43)",
    compute_head="(define (compute ",
    dup_fn="(define (twice item)\n  (+ (helper item 2) (helper item 2)))\n\n",
    deleted_fn='(define (report values)\n  (printf "total ~a\\n" (compute values 10)))\n\n',
    deleted_piece='(printf "total ~a\\n" (compute values 10))',
    insert_above=";; Totals, in Racket.\n(require racket/list)\n\n(define max-items 128)\n\n",
)

PROGRAMS = [PYTHON, JAVASCRIPT, TYPESCRIPT, TSX, C, CPP, JAVA, GO, RUST, RACKET]
