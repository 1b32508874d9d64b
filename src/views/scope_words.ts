const WORDS: Readonly<Record<string, string>> = {
  openid: 'Know who you are (your account identifier)',
  profile: 'Your basic profile: name, nickname, picture',
  email: 'Your email address',
  address: 'Your postal address',
  phone: 'Your phone number',
  offline_access: 'Stay signed in: keep access while you are away'
}

/** A scope in words for the confirm page; unknown scopes are named as they are. */
export function scopeInWords (scope: string): string {
  return WORDS[scope] ?? `Access to “${scope}”`
}
