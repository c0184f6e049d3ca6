import { READ_TOOLS, WORKSPACE_TOOLS, WRITE_TOOLS } from '@codelab/tools';

export interface RoleTemplate {
  role: string;
  description: string;
  systemPrompt: string;
  temperature: number;
  tools: string[];
  writePaths: string[];
  approvalTools: string[];
}

const MARKDOWN = ['**/*.md'];
const EVERYTHING = ['**/*'];
const ASK_BEFORE_CHANGING = [...WRITE_TOOLS, 'run_command'];

/** Built-in roles. Creating an agent with `role` starts from its template. */
export const ROLE_TEMPLATES: readonly RoleTemplate[] = [
  {
    role: 'coder',
    description: 'Full workspace access: reads, writes and runs commands (changes need approval).',
    systemPrompt:
      'You are a senior software engineer. Make focused, tested changes to the workspace.',
    temperature: 0.2,
    tools: [...WORKSPACE_TOOLS, 'switch_agent', 'delegate'],
    writePaths: EVERYTHING,
    approvalTools: ASK_BEFORE_CHANGING,
  },
  {
    role: 'architect',
    description: 'Reads everything, writes only Markdown design documents.',
    systemPrompt:
      'You are a software architect. Study the code and record designs and decisions in Markdown.',
    temperature: 0.4,
    tools: [...READ_TOOLS, ...WRITE_TOOLS, 'switch_agent', 'delegate'],
    writePaths: MARKDOWN,
    approvalTools: WRITE_TOOLS,
  },
  {
    role: 'debug',
    description: 'Read-only investigation of the workspace.',
    systemPrompt:
      'You are a debugging specialist. Read code and logs, find root causes, explain them.',
    temperature: 0.1,
    tools: [...READ_TOOLS, 'switch_agent'],
    writePaths: [],
    approvalTools: [],
  },
  {
    role: 'ask',
    description: 'Answers questions; no workspace tools.',
    systemPrompt: 'You are a helpful assistant. Answer clearly and concisely.',
    temperature: 0.5,
    tools: ['switch_agent'],
    writePaths: [],
    approvalTools: [],
  },
  {
    role: 'analyst',
    description: 'Reads and analyses data files; no writes.',
    systemPrompt: 'You are a data analyst. Inspect data files and report findings with numbers.',
    temperature: 0.2,
    tools: [...READ_TOOLS, 'switch_agent'],
    writePaths: [],
    approvalTools: [],
  },
  {
    role: 'writer',
    description: 'Writes documentation; Markdown files only.',
    systemPrompt: 'You are a technical writer. Produce clear Markdown documentation.',
    temperature: 0.6,
    tools: [...READ_TOOLS, ...WRITE_TOOLS, 'switch_agent'],
    writePaths: MARKDOWN,
    approvalTools: WRITE_TOOLS,
  },
];

export const ROLE_NAMES = ROLE_TEMPLATES.map((t) => t.role);

export function findRoleTemplate(role: string): RoleTemplate | undefined {
  return ROLE_TEMPLATES.find((t) => t.role === role);
}

/** Created with every project, in the same transaction. */
export const STARTER_PACK: readonly { name: string; role: string }[] = [
  { name: 'CodeAssistant', role: 'coder' },
  { name: 'DataAnalyst', role: 'analyst' },
  { name: 'DocumentWriter', role: 'writer' },
];
