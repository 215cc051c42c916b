"""End to end in a real editor: headless Neovim starts `magicmarkup lsp`, opens a tagged file,
types two lines above the tag and reads the hover through Lua."""

from __future__ import annotations

import json
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

from tests.lsp.conftest import make_repo

NVIM = shutil.which("nvim")

SCRIPT = r"""
local root = os.getenv('MM_ROOT')
local out = os.getenv('MM_OUT')
local python = os.getenv('MM_PYTHON')
local result = {}
local function finish()
  local f = io.open(out, 'w')
  f:write(vim.fn.json_encode(result))
  f:close()
  vim.cmd('qa!')
end
local ok, err = pcall(function()
  vim.cmd('edit ' .. root .. '/app.py')
  local buf = vim.api.nvim_get_current_buf()
  local ready = false
  local id = vim.lsp.start_client({
    name = 'magicmarkup',
    cmd = { python, '-m', 'magicmarkup', 'lsp' },
    root_dir = root,
    flags = { debounce_text_changes = 0 },
    on_init = function() ready = true end,
  })
  vim.lsp.buf_attach_client(buf, id)
  result.ready = vim.wait(20000, function() return ready end, 20)
  local uri = vim.uri_from_bufnr(buf)
  local function hover(line, character)
    local params = { textDocument = { uri = uri }, position = { line = line, character = character } }
    local replies = vim.lsp.buf_request_sync(buf, 'textDocument/hover', params, 10000) or {}
    for _, reply in pairs(replies) do
      if reply.result and reply.result.contents then
        return reply.result.contents.value
      end
    end
    return vim.NIL
  end
  -- the note before typing (line 6 of the file, 0-based 5)
  vim.wait(20000, function() return hover(5, 15) ~= vim.NIL end, 50)
  result.before = hover(5, 15)
  -- type two lines above the tag, as a person would (insert mode, at the top)
  vim.api.nvim_win_set_cursor(0, { 1, 0 })
  vim.api.nvim_feedkeys(vim.api.nvim_replace_termcodes('O# typed in nvim<CR># and one more<Esc>', true, false, true), 'xt', false)
  result.line1 = vim.api.nvim_buf_get_lines(buf, 0, 1, false)[1]
  vim.wait(10000, function() return hover(7, 15) ~= vim.NIL end, 50)
  result.after = hover(7, 15)
  result.old_place = hover(5, 15)
end)
if not ok then result.error = tostring(err) end
finish()
"""


@pytest.mark.skipif(NVIM is None, reason="nvim is not installed (apt-get install neovim)")
def test_neovim_types_above_a_tag_and_reads_the_hover(tmp_path: Path) -> None:
    root = tmp_path / "repo"
    make_repo(root)
    script = tmp_path / "drive.lua"
    script.write_text(SCRIPT, encoding="utf-8")
    out = tmp_path / "out.json"
    env = {
        "MM_ROOT": str(root),
        "MM_OUT": str(out),
        "MM_PYTHON": sys.executable,
        "PATH": "/usr/bin:/bin",
        "HOME": str(tmp_path),
    }
    assert NVIM is not None
    proc = subprocess.run(
        [NVIM, "--headless", "-u", "NONE", "-i", "NONE", "-n", "-c", f"lua dofile('{script}')"],
        env=env,
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )
    assert out.exists(), proc.stderr + proc.stdout
    result = json.loads(out.read_text(encoding="utf-8"))
    assert "error" not in result, result
    assert result["ready"] is True
    assert "why not Decimal?" in result["before"]
    assert result["line1"] == "# typed in nvim"
    assert "why not Decimal?" in result["after"] and "`moved`" in result["after"]
    assert result["old_place"] is None or "why not Decimal?" not in result["old_place"]
