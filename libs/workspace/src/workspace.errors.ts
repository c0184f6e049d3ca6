import { DomainError } from '@codelab/platform';

export class InvalidWorkspacePathError extends DomainError {
  readonly code = 'INVALID_PATH';
  readonly kind = 'invalid' as const;
  constructor(field: string, reason: string) {
    super(`${field} ${reason}`, { field });
  }
}

/** A symlink (or a hard link) that leads out of the workspace, or a path swapped mid-operation. */
export class PathEscapesWorkspaceError extends DomainError {
  readonly code = 'PATH_ESCAPES_WORKSPACE';
  readonly kind = 'forbidden' as const;
  constructor(path: string, why = 'leads outside the workspace') {
    super(`"${path}" ${why}`, { path });
  }
}

export class WorkspaceEntryNotFoundError extends DomainError {
  readonly code = 'FILE_NOT_FOUND';
  readonly kind = 'not_found' as const;
  constructor(path: string) {
    super(`"${path}" does not exist`, { path });
  }
}

export class WorkspaceEntryTypeError extends DomainError {
  readonly code: 'NOT_A_FILE' | 'NOT_A_DIRECTORY';
  readonly kind = 'unprocessable' as const;
  constructor(path: string, expected: 'file' | 'directory') {
    super(`"${path}" is not a ${expected}`, { path });
    this.code = expected === 'file' ? 'NOT_A_FILE' : 'NOT_A_DIRECTORY';
  }
}

export class WorkspaceConflictError extends DomainError {
  readonly code: 'ALREADY_EXISTS' | 'DIRECTORY_NOT_EMPTY';
  readonly kind = 'conflict' as const;
  constructor(path: string, code: 'ALREADY_EXISTS' | 'DIRECTORY_NOT_EMPTY') {
    super(
      code === 'ALREADY_EXISTS'
        ? `"${path}" already exists`
        : `"${path}" is a directory that is not empty (pass recursive=true)`,
      { path },
    );
    this.code = code;
  }
}

/** If-Match / If-None-Match / expected_sha256 did not hold: nothing was written. */
export class WorkspacePreconditionFailedError extends DomainError {
  readonly code = 'PRECONDITION_FAILED';
  readonly kind = 'precondition_failed' as const;
  constructor(path: string, expected: string | null, actual: string | null) {
    super(
      actual === null
        ? `"${path}" does not exist (expected version ${expected})`
        : expected === null
          ? `"${path}" already exists`
          : `"${path}" has changed (expected sha256 ${expected}, found ${actual})`,
      { path, current_sha256: actual },
    );
  }
}

export class WorkspaceQuotaExceededError extends DomainError {
  readonly code = 'QUOTA_EXCEEDED';
  readonly kind = 'unprocessable' as const;
  constructor(message: string, details: Record<string, unknown>) {
    super(message, details);
  }
}
