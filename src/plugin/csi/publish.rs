//! The bind mount NodePublishVolume puts at Swarm's target path: the volume's data
//! directory, read-only when asked. Swarm's target is under the plugin's propagated mount,
//! so the bind reaches the host and the task's container.

use std::ffi::CString;
use std::io::ErrorKind;
use std::os::unix::ffi::OsStrExt;
use std::path::Path;

use crate::plugin::error::Error;
use crate::plugin::mounter::mounted_at;

/// Binds `source` at `target`, creating `target`; a target already mounted is taken as this
/// publication done before (Swarm repeats calls), as the CSI spec asks of NodePublish.
pub fn bind(source: &Path, target: &Path, read_only: bool) -> Result<(), Error> {
    if is_mount_point(target) {
        return Ok(());
    }
    std::fs::create_dir_all(target).map_err(Error::io("cannot create", target))?;
    mount(source, target, libc::MS_BIND | libc::MS_REC)?;
    if read_only {
        // A bind takes its flags from the source; read-only needs a remount of the bind.
        let flags = libc::MS_BIND | libc::MS_REMOUNT | libc::MS_RDONLY;
        if let Err(err) = mount(source, target, flags) {
            let _ = unmount(target);
            return Err(err);
        }
    }
    Ok(())
}

/// Unmounts `target` and removes the directory; whether anything was mounted there.
pub fn unbind(target: &Path) -> Result<bool, Error> {
    let was_mounted = is_mount_point(target);
    if was_mounted {
        unmount(target)?;
    }
    match std::fs::remove_dir(target) {
        Ok(()) => Ok(was_mounted),
        Err(err) if err.kind() == ErrorKind::NotFound => Ok(was_mounted),
        Err(err) => Err(Error::io("cannot remove the publish directory", target)(
            err,
        )),
    }
}

pub fn is_mount_point(target: &Path) -> bool {
    let mountinfo = std::fs::read_to_string("/proc/self/mountinfo").unwrap_or_default();
    mounted_at(&mountinfo, target).is_some()
}

fn mount(source: &Path, target: &Path, flags: libc::c_ulong) -> Result<(), Error> {
    let (source_c, target_c) = (c_path(source)?, c_path(target)?);
    // SAFETY: both are NUL-terminated paths that outlive the call; a bind reads no fstype
    // and no data.
    let rc = unsafe {
        libc::mount(
            source_c.as_ptr(),
            target_c.as_ptr(),
            std::ptr::null(),
            flags,
            std::ptr::null(),
        )
    };
    if rc != 0 {
        return Err(Error::io("cannot bind-mount the volume at", target)(
            std::io::Error::last_os_error(),
        ));
    }
    Ok(())
}

fn unmount(target: &Path) -> Result<(), Error> {
    let target_c = c_path(target)?;
    // SAFETY: a NUL-terminated path that outlives the call.
    if unsafe { libc::umount2(target_c.as_ptr(), 0) } != 0 {
        return Err(Error::io("cannot unmount the volume at", target)(
            std::io::Error::last_os_error(),
        ));
    }
    Ok(())
}

fn c_path(path: &Path) -> Result<CString, Error> {
    CString::new(path.as_os_str().as_bytes()).map_err(|_| {
        Error::io("a NUL byte in", path)(std::io::Error::from(ErrorKind::InvalidInput))
    })
}
