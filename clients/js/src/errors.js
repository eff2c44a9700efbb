/** Errors the client hands to callers: `code` is a reject or error code. */
export class TidemarkError extends Error {
  constructor(code, message, extra = {}) {
    super(message || code);
    this.name = 'TidemarkError';
    this.code = code;
    Object.assign(this, extra);
  }
}
