// Typed NATS request with a deadline: a timeout or an absent service is temporarily_unavailable
// (HTTP 503) to the caller, never a hang; a service error comes back as the OAuthError it was.
import type { NatsConnection } from '@nats-io/nats-core';
import type { TSchema, Static } from '@sinclair/typebox';
import type { Checker } from '#shared/contracts/checker.ts';
import { OAuthError, OAuthErrorCodes, unavailable, type OAuthErrorCode } from '#shared/oauth-error.ts';
import { parseJson } from './add-endpoint.ts';
import { requestHeaders } from './headers.ts';

const encoder = new TextEncoder();

export type RequestOptions = { reqId: string; timeoutMs: number };

export async function natsRequest<S extends TSchema>(
  nc: NatsConnection,
  subject: string,
  body: unknown,
  reply: Checker<S>,
  { reqId, timeoutMs }: RequestOptions,
): Promise<Static<S>> {
  let msg;
  try {
    msg = await nc.request(subject, encoder.encode(JSON.stringify(body)), {
      timeout: timeoutMs,
      headers: requestHeaders(reqId, Date.now() + timeoutMs),
    });
  } catch (error) {
    throw unavailable(`nats request to ${subject} failed: ${(error as Error).message}`);
  }
  const parsed = parseJson(msg.data);
  const serviceError = msg.headers?.get('Nats-Service-Error');
  if (serviceError) {
    const code = (parsed as { error?: string } | undefined)?.error;
    const description = (parsed as { error_description?: string } | undefined)?.error_description;
    if (code && code in OAuthErrorCodes && typeof description === 'string') {
      throw new OAuthError(code as OAuthErrorCode, description, `${subject} answered ${code}`);
    }
    throw new OAuthError('server_error', 'The server could not complete the request.', `${subject} answered ${serviceError}`);
  }
  const value = reply.parse(parsed);
  if (value === undefined) throw new OAuthError('server_error', 'The server could not complete the request.', `${subject} sent a reply that does not match its schema`);
  return value;
}
