//! Who an offline command records as the actor of an audited change (through
//! a server, the server records the session's token@peer instead).
//!
//! The login name comes from `USER`, else `LOGNAME` (the variable POSIX
//! `login` sets), else the account name of the process's uid (`getpwuid_r`,
//! as `id -un` looks it up), else the uid itself; anything but `USER` says
//! which it was, so the audit never reads "unknown".

/// `"NAME (COMMAND, pid N)"`, with where NAME came from when it was not `USER`:
/// `"NAME (LOGNAME; COMMAND, pid N)"`, `"NAME (account of uid U; …)"`, or
/// `"uid U (no USER, LOGNAME or account name; …)"`.
pub fn offline_actor(command: &str) -> String {
    let pid = std::process::id();
    match login_name() {
        (name, None) => format!("{name} ({command}, pid {pid})"),
        (name, Some(source)) => format!("{name} ({source}; {command}, pid {pid})"),
    }
}

/// The login name, and where it came from unless that was `USER`.
pub fn login_name() -> (String, Option<String>) {
    let set = |key: &str| std::env::var(key).ok().filter(|v| !v.trim().is_empty());
    if let Some(user) = set("USER") {
        return (user, None);
    }
    if let Some(logname) = set("LOGNAME") {
        return (logname, Some("LOGNAME".into()));
    }
    let uid = current_uid();
    match account_name(uid) {
        Some(name) => (name, Some(format!("account of uid {uid}"))),
        None => (format!("uid {uid}"), Some("no USER, LOGNAME or account name".into())),
    }
}

#[expect(unsafe_code, reason = "getuid has no safe wrapper in std")]
fn current_uid() -> libc::uid_t {
    // SAFETY: getuid takes no arguments, touches no memory and cannot fail.
    unsafe { libc::getuid() }
}

/// The name of account `uid` from the system's user database (files, LDAP,
/// … as NSS is configured), or `None` if it has none.
#[expect(
    unsafe_code,
    reason = "getpwuid_r has no safe wrapper in std or a crate already in the tree"
)]
fn account_name(uid: libc::uid_t) -> Option<String> {
    const BUFFER_MAX: usize = 1 << 20;
    let mut buffer = vec![0_u8; 1024];
    loop {
        // SAFETY: `passwd` is a plain C struct of integers and pointers, for
        // which all-zero bytes are a valid value (null pointers).
        let mut entry: libc::passwd = unsafe { std::mem::zeroed() };
        let mut found: *mut libc::passwd = std::ptr::null_mut();
        // SAFETY: every pointer is valid for the call: `entry` and `found`
        // are live locals, `buffer` is writable for `buffer.len()` bytes;
        // getpwuid_r writes the strings only into `buffer`.
        let code = unsafe { libc::getpwuid_r(uid, &mut entry, buffer.as_mut_ptr().cast(), buffer.len(), &mut found) };
        if code == libc::ERANGE && buffer.len() < BUFFER_MAX {
            buffer.resize(buffer.len() * 2, 0);
            continue;
        }
        if code != 0 || found.is_null() || entry.pw_name.is_null() {
            return None;
        }
        // SAFETY: on success `pw_name` points to a NUL-terminated string in
        // `buffer`, which lives (unchanged) until the end of this function.
        let name = unsafe { std::ffi::CStr::from_ptr(entry.pw_name) };
        let name = name.to_string_lossy().into_owned();
        return (!name.is_empty()).then_some(name);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_account_of_this_process_has_a_name_or_none() {
        // Whatever the database says, the call neither fails nor returns an
        // empty name; uid 0 has an account on every Unix this builds on.
        assert_eq!(account_name(0).as_deref(), Some("root"));
        assert!(account_name(current_uid()).is_none_or(|n| !n.is_empty()));
    }
}
