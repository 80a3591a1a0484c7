/**
 * Strict application/x-www-form-urlencoded parsing for provider webhooks.
 * Repeated names become arrays (as Express/body-parser hand them to twilio-node's `validateRequest`), `+` is a
 * space, and a malformed escape (`%zz`, a truncated `%E2%82`, invalid UTF-8) is an error rather than silently kept,
 * so a body that is not what the provider signed is answered 400 instead of a confusing signature failure.
 */

export type FormParams = Record<string, string | string[]>;

export class FormParseError extends Error {
  constructor(message: string) {
    super(message);
    this.name = 'FormParseError';
  }
}

function decode(part: string): string {
  try {
    return decodeURIComponent(part.replace(/\+/g, ' '));
  } catch {
    throw new FormParseError(`Malformed percent-encoding in ${JSON.stringify(part.slice(0, 40))}`);
  }
}

export function parseForm(raw: string): FormParams {
  const out: FormParams = Object.create(null) as FormParams;
  if (raw.length === 0) return out;
  for (const pair of raw.split('&')) {
    if (pair.length === 0) continue;
    const eq = pair.indexOf('=');
    const name = decode(eq === -1 ? pair : pair.slice(0, eq));
    const value = eq === -1 ? '' : decode(pair.slice(eq + 1));
    if (name.length === 0) throw new FormParseError('A form field without a name');
    const prev = out[name];
    if (prev === undefined) out[name] = value;
    else if (typeof prev === 'string') out[name] = [prev, value];
    else prev.push(value);
  }
  return out;
}

/** A single string value, or undefined when absent; a repeated field is malformed for single-valued names. */
export function single(params: FormParams, name: string): string | undefined {
  const v = params[name];
  if (v === undefined) return undefined;
  if (typeof v !== 'string') throw new FormParseError(`Field ${name} is repeated`);
  return v;
}
