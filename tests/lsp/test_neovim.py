"""End to end in a real editor: headless Neovim starts `magicmarkup lsp`, opens a tagged file,
types two lines above the tag and reads the hover through Lua; then the README's bindings add a
tag to a selection (refused until saved) and edit its note."""

from __future__ import annotations

import json
import os
import re
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

from magicmarkup.store import Store
from tests.lsp.conftest import make_repo


def find_or_install_nvim() -> str | None:
    """Neovim, installed from Debian's packages when missing and we may (a fresh CI machine is
    root on Debian): without it this end-to-end test would skip everywhere but here."""
    found = shutil.which("nvim")
    if found or shutil.which("apt-get") is None or os.geteuid() != 0:
        return found
    install = ["apt-get", "install", "-y", "-q", "--no-install-recommends", "neovim"]
    for cmd in ([install], [["apt-get", "update", "-q"], install]):
        try:
            for step in cmd:
                subprocess.run(step, capture_output=True, timeout=300, check=True)
        except (subprocess.SubprocessError, OSError):
            continue
        return shutil.which("nvim")
    return None


NVIM = find_or_install_nvim()

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

  -- the README's bindings: add a tag to a selection (refused while unsaved), edit its note
  local helpers = assert(loadstring(os.getenv('MM_HELPERS') .. '\nreturn magicmarkup_add, magicmarkup_edit'))
  local add, edit = helpers()
  local answer = nil
  vim.ui.input = function(opts, on_confirm) on_confirm(answer) end
  local said = {}
  vim.notify = function(msg) table.insert(said, msg) end
  local function select_line(n)
    vim.api.nvim_win_set_cursor(0, { n, 0 })
    vim.api.nvim_feedkeys(vim.api.nvim_replace_termcodes('V<Esc>', true, false, true), 'xt', false)
  end
  select_line(3)  -- `import os`
  answer = 'from nvim'
  add()
  vim.wait(5000, function() return #said > 0 end, 20)
  result.unsaved = said[1]
  vim.cmd('write')
  select_line(3)
  add()
  vim.wait(10000, function() local h = hover(2, 3); return h ~= vim.NIL and h:find('from nvim') ~= nil end, 50)
  result.added = hover(2, 3)
  vim.api.nvim_win_set_cursor(0, { 3, 3 })
  answer = 'edited in nvim'
  edit()
  vim.wait(10000, function() local h = hover(2, 3); return h ~= vim.NIL and h:find('edited in nvim') ~= nil end, 50)
  result.edited = hover(2, 3)
end)
if not ok then result.error = tostring(err) end
finish()
"""


def readme_helpers() -> str:
    """The README's Lua block that defines the Neovim bindings (tested as documented)."""
    readme = (Path(__file__).parents[2] / "README.md").read_text(encoding="utf-8")
    blocks = re.findall(r"```lua\n(.*?)```", readme, flags=re.S)
    return next(b for b in blocks if "local function magicmarkup_add" in b)


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
        "MM_HELPERS": readme_helpers(),
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
    assert "unsaved changes: save it first" in result["unsaved"]
    assert "from nvim" in result["added"]
    assert "edited in nvim" in result["edited"]
    notes = [t.note for t in Store(root).load("app.py")]
    assert "edited in nvim" in notes and "from nvim" not in notes
