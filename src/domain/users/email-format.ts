/**
 * The address format sign-up accepts: the spec's `format: email` as the request validator checks it (ajv-formats,
 * "fast" mode; test/unit/email-format.test.ts holds the two together). ASCII only, on purpose: emails are compared
 * after lower-casing, and Unicode lower-casing folds some letters onto ASCII ones (U+212A KELVIN SIGN becomes "k"),
 * so a Unicode address from elsewhere (an identity provider, ADMIN_EMAILS) could land on another person's account.
 */
const FORMAT = /^[a-z0-9.!#$%&'*+/=?^_`{|}~-]+@[a-z0-9](?:[a-z0-9-]{0,61}[a-z0-9])?(?:\.[a-z0-9](?:[a-z0-9-]{0,61}[a-z0-9])?)*$/i;
// Checked apart from FORMAT: with a `u` flag, FORMAT's `i` would match U+212A as "k".
const ASCII = /^[\x21-\x7e]+$/;

/** Whether `value` is an address sign-up would accept (at most 254 characters, as the spec's Email schema). */
export const isEmailAddress = (value: string): boolean => value.length <= 254 && ASCII.test(value) && FORMAT.test(value);
