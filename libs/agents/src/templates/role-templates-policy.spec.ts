import {
  type AgentToolPolicy,
  decideToolCall,
  normaliseWorkspacePath,
  TOOL_NAMES,
} from '@codelab/tools';
import { findRoleTemplate, ROLE_TEMPLATES } from './role-templates';

const policyOf = (role: string): AgentToolPolicy => {
  const t = findRoleTemplate(role);
  if (!t) throw new Error(role);
  return { tools: t.tools, writePaths: t.writePaths, approvalTools: t.approvalTools };
};

describe('decideToolCall', () => {
  const coder = policyOf('coder');
  const architect = policyOf('architect');
  const debug = policyOf('debug');
  const ask = policyOf('ask');

  it('allows a listed read tool anywhere inside the workspace', () => {
    expect(decideToolCall(debug, { tool: 'read_file', args: { path: 'src/app.ts' } })).toEqual({
      outcome: 'allow',
      path: 'src/app.ts',
    });
    expect(decideToolCall(debug, { tool: 'list_files', args: {} })).toEqual({
      outcome: 'allow',
      path: '.',
    });
  });

  it('denies tools outside the allowlist and unknown tools', () => {
    expect(decideToolCall(debug, { tool: 'write_file', args: { path: 'a.md' } })).toMatchObject({
      outcome: 'deny',
    });
    expect(decideToolCall(ask, { tool: 'read_file', args: { path: 'a.md' } })).toMatchObject({
      outcome: 'deny',
    });
    expect(decideToolCall(coder, { tool: 'rm_rf', args: {} })).toMatchObject({
      outcome: 'deny',
      reason: 'unknown tool "rm_rf"',
    });
  });

  it('asks for approval on writes the policy allows, and allows once approved', () => {
    const call = { tool: 'write_file', args: { path: 'src/index.ts' } };
    expect(decideToolCall(coder, call)).toMatchObject({
      outcome: 'needs_approval',
      path: 'src/index.ts',
    });
    expect(decideToolCall(coder, call, { approved: true })).toEqual({
      outcome: 'allow',
      path: 'src/index.ts',
    });
    expect(decideToolCall(coder, call, { approvalsDisabled: true })).toEqual({
      outcome: 'allow',
      path: 'src/index.ts',
    });
  });

  it('never lets an approval widen the policy', () => {
    expect(
      decideToolCall(
        architect,
        { tool: 'write_file', args: { path: 'src/app.ts' } },
        { approved: true },
      ),
    ).toMatchObject({
      outcome: 'deny',
    });
    expect(
      decideToolCall(
        debug,
        { tool: 'delete_file', args: { path: 'README.md' } },
        { approved: true },
      ),
    ).toMatchObject({
      outcome: 'deny',
    });
    expect(
      decideToolCall(
        coder,
        { tool: 'write_file', args: { path: '../etc/passwd' } },
        { approved: true },
      ),
    ).toMatchObject({
      outcome: 'deny',
    });
  });

  it('disabling approvals only affects write tools, not commands', () => {
    expect(
      decideToolCall(
        coder,
        { tool: 'run_command', args: { command: 'ls' } },
        { approvalsDisabled: true },
      ),
    ).toMatchObject({
      outcome: 'needs_approval',
    });
  });

  describe('write globs', () => {
    const md = (path: string) =>
      decideToolCall(architect, { tool: 'write_file', args: { path } }, { approved: true }).outcome;

    it('match Markdown at any depth, including the root and dot-directories', () => {
      expect(md('README.md')).toBe('allow');
      expect(md('docs/adr/0001-use-postgres.md')).toBe('allow');
      expect(md('.github/CONTRIBUTING.md')).toBe('allow');
      expect(md('./docs/intro.md')).toBe('allow');
      expect(md('docs//intro.md')).toBe('allow');
    });

    it('reject look-alikes', () => {
      expect(md('notes.md.exe')).toBe('deny');
      expect(md('notes.MD')).toBe('deny');
      expect(md('notes.mdx')).toBe('deny');
      expect(md('src/app.ts')).toBe('deny');
      expect(md('docs')).toBe('deny');
    });

    it('deny every write when the policy has no write paths', () => {
      const noWrites: AgentToolPolicy = {
        tools: ['write_file'],
        writePaths: [],
        approvalTools: [],
      };
      expect(
        decideToolCall(noWrites, { tool: 'write_file', args: { path: 'a.md' } }),
      ).toMatchObject({ outcome: 'deny' });
    });

    it('honour narrow globs exactly', () => {
      const narrow: AgentToolPolicy = {
        tools: ['write_file'],
        writePaths: ['src/**/*.ts'],
        approvalTools: [],
      };
      const out = (path: string) =>
        decideToolCall(narrow, { tool: 'write_file', args: { path } }).outcome;
      expect(out('src/a.ts')).toBe('allow');
      expect(out('src/deep/er/b.ts')).toBe('allow');
      expect(out('test/a.ts')).toBe('deny');
      expect(out('src/a.js')).toBe('deny');
    });
  });

  describe('paths that try to leave the workspace', () => {
    const cases = [
      '../secrets.md',
      'docs/../../secrets.md',
      'docs/..',
      '..',
      '/etc/passwd.md',
      'C:/Windows/win.md',
      'c:notes.md',
      '~/notes.md',
      'docs\\..\\..\\x.md',
      'a.md\0.txt',
      '',
    ];
    it.each(cases)('denies %j for reads and writes alike', (path) => {
      expect(
        decideToolCall(coder, { tool: 'read_file', args: { path } }, { approved: true }).outcome,
      ).toBe('deny');
      expect(
        decideToolCall(coder, { tool: 'write_file', args: { path } }, { approved: true }).outcome,
      ).toBe('deny');
    });

    it('denies non-string paths', () => {
      expect(decideToolCall(coder, { tool: 'read_file', args: { path: 42 } }).outcome).toBe('deny');
      expect(decideToolCall(coder, { tool: 'read_file', args: { path: ['a'] } }).outcome).toBe(
        'deny',
      );
    });
  });

  it('normalises harmless forms', () => {
    expect(normaliseWorkspacePath('./a/./b//c.md')).toEqual({ path: 'a/b/c.md' });
    expect(normaliseWorkspacePath('dir/')).toEqual({ path: 'dir' });
    expect(normaliseWorkspacePath('.')).toEqual({ path: '.' });
    expect(normaliseWorkspacePath('..hidden/file.md')).toEqual({ path: '..hidden/file.md' });
  });
});

describe('role templates', () => {
  it('only name registered tools, and every writer has write paths', () => {
    for (const t of ROLE_TEMPLATES) {
      for (const tool of [...t.tools, ...t.approvalTools]) expect(TOOL_NAMES).toContain(tool);
      const writes = t.tools.some((tool) =>
        ['write_file', 'edit_file', 'delete_file'].includes(tool),
      );
      expect(writes).toBe(t.writePaths.length > 0);
    }
  });

  it('give debug, analyst and ask no way to change the workspace', () => {
    for (const role of ['debug', 'analyst', 'ask']) {
      const p = policyOf(role);
      for (const tool of ['write_file', 'edit_file', 'delete_file', 'run_command']) {
        expect(
          decideToolCall(p, { tool, args: { path: 'x.md' } }, { approved: true }).outcome,
        ).toBe('deny');
      }
    }
  });
});
