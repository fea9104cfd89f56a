/**
 * Every error the product reports on purpose has one of these codes. The API maps
 * each to an HTTP status in a single exhaustive switch (apps/api), so adding a code
 * here fails the build until it is mapped.
 */
export const ErrorCode = {
  ValidationFailed: 'VALIDATION_FAILED',
  NotFound: 'NOT_FOUND',
  Conflict: 'CONFLICT',
  /** The thing existed but is no longer usable (an expired or used invitation). */
  Gone: 'GONE',
  Unauthenticated: 'UNAUTHENTICATED',
  /** The password was right; the second factor (TOTP or a recovery code) is needed. */
  MfaRequired: 'MFA_REQUIRED',
  /** The tenant requires owners to use a second factor and this owner has none yet. */
  MfaEnrolmentRequired: 'MFA_ENROLMENT_REQUIRED',
  Forbidden: 'FORBIDDEN',
  TenantSuspended: 'TENANT_SUSPENDED',
  RateLimited: 'RATE_LIMITED',
  PayloadTooLarge: 'PAYLOAD_TOO_LARGE',
  UnsupportedMediaType: 'UNSUPPORTED_MEDIA_TYPE',
  DependencyUnavailable: 'DEPENDENCY_UNAVAILABLE',
  /** A programming error: tenant-scoped code ran without a tenant. Never the caller's fault. */
  TenantContextMissing: 'TENANT_CONTEXT_MISSING',
} as const;
export type ErrorCode = (typeof ErrorCode)[keyof typeof ErrorCode];

export interface FieldProblem {
  /** Dotted path of the offending field, e.g. `body.displayName`. */
  readonly field: string;
  readonly message: string;
}

/**
 * An error the product reports on purpose. `message` and `details` are shown to the
 * caller, so they never hold secrets or internals; put those in `cause`, which is
 * only logged.
 */
export class DomainError extends Error {
  constructor(
    readonly code: ErrorCode,
    message: string,
    readonly details?: { readonly fields?: readonly FieldProblem[] } & Record<string, unknown>,
    options?: { cause?: unknown },
  ) {
    super(message, options);
    this.name = 'DomainError';
  }
}

export class NotFoundError extends DomainError {
  constructor(what: string) {
    super(ErrorCode.NotFound, `${what} not found`);
  }
}

export class ValidationError extends DomainError {
  constructor(readonly fields: readonly FieldProblem[]) {
    super(
      ErrorCode.ValidationFailed,
      fields.map((f) => `${f.field}: ${f.message}`).join('; ') || 'invalid input',
      { fields },
    );
  }
}

export class TenantContextMissingError extends DomainError {
  constructor(operation: string) {
    super(
      ErrorCode.TenantContextMissing,
      `${operation} needs a tenant context, and none is set: run it inside runWithTenant()`,
    );
  }
}
