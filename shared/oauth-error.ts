// One error type for every OAuth error the services return (RFC 6749 §4.1.2.1 and §5.2).
export const OAuthErrorCodes = {
  invalid_request: 400,
  invalid_client: 401,
  invalid_grant: 400,
  unauthorized_client: 400,
  unsupported_grant_type: 400,
  invalid_scope: 400,
  access_denied: 403,
  unsupported_response_type: 400,
  invalid_token: 401,
  /** RFC 9449 §5: the DPoP proof at the token endpoint is missing where required, or invalid. */
  invalid_dpop_proof: 400,
  /** RFC 8707 §2: a resource that is unknown, malformed or beyond the authorization. */
  invalid_target: 400,
  server_error: 500,
  temporarily_unavailable: 503,
} as const;
export type OAuthErrorCode = keyof typeof OAuthErrorCodes;

export class OAuthError extends Error {
  readonly code: OAuthErrorCode;
  readonly status: number;
  /** A fixed public sentence (plain ASCII); never echoes input. */
  readonly description: string;
  /** For logs and audit reasons only. */
  readonly detail: string | undefined;

  constructor(code: OAuthErrorCode, description: string, detail?: string) {
    super(`${code}: ${description}`);
    this.code = code;
    this.status = OAuthErrorCodes[code];
    this.description = description;
    this.detail = detail;
  }

  toJSON(): { error: OAuthErrorCode; error_description: string } {
    return { error: this.code, error_description: this.description };
  }
}

export const isOAuthError = (error: unknown): error is OAuthError => error instanceof OAuthError;

/** Raised when NATS or the database did not answer in time: 503 temporarily_unavailable. */
export const unavailable = (detail: string) =>
  new OAuthError('temporarily_unavailable', 'The service is temporarily unavailable, try again later.', detail);
