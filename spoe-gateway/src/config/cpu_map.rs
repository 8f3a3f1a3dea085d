//! `cpu-map [auto:]PROCESS[/THREADS] CPU...` (`cfg_parse_global()`, `parse_process_number()`
//! and `parse_cpu_set()` in HAProxy 2.6's `src/cfgparse-global.c` and `src/cfgparse.c`: the
//! same sets, the same messages). What it maps is run by `crate::affinity`.

use spoe::config::reader::Line;

use super::lower::Lowerer;
use crate::affinity::CpuSet;

/// HAProxy's `LONGBITS`: process and thread numbers go from 1 to this.
const LONGBITS: u32 = 64;
/// HAProxy's `ha_cpuset_size()` on Linux (`CPU_SETSIZE`).
const CPUSET_SIZE: usize = 1024;

/// `cpu-map`.
pub(super) fn cpu_map(lw: &mut Lowerer<'_, '_>, line: &Line) {
    let (Some(which), Some(_)) = (line.arg(1), line.arg(2)) else {
        return lw.diag.error_msg(
            line.span().clone(),
            format!(
                "cpu-map expects a process number  ('all', 'odd', 'even', a number from 1 to \
                 {LONGBITS} or a range),  followed by a list of CPU ranges with numbers from 0 to \
                 {}.",
                LONGBITS - 1
            ),
        );
    };
    let which = which.as_str();
    let (auto, which) = match which.strip_prefix("auto:") {
        Some(rest) => (true, rest),
        None => (false, which),
    };
    let (process, thread) = match which.split_once('/') {
        Some((p, t)) => (p, Some(t)),
        None => (which, None),
    };
    let parsed = (|| {
        let process = numbers(process)?;
        let thread = thread.map(numbers).transpose()?.unwrap_or(0);
        let cpus = cpu_set(
            line.words
                .get(2..)
                .unwrap_or_default()
                .iter()
                .map(|w| w.as_str()),
        )?;
        Ok::<_, String>((process, thread, cpus))
    })();
    let (process, thread, cpus) = match parsed {
        Ok(p) => p,
        Err(e) => {
            return lw
                .diag
                .error_msg(line.span().clone(), format!("cpu-map : {e}"));
        }
    };
    if auto
        && process.count_ones() as usize != cpus.len()
        && thread.count_ones() as usize != cpus.len()
    {
        return lw.diag.error_msg(
            line.span().clone(),
            "cpu-map : PROC/THREAD range and CPU sets must have the same size to be \
             automatically bound",
        );
    }
    let map = &mut lw.global.process.cpu_map;
    if thread == 0 || thread == 1 {
        // The whole process (`cpu-map 1 0-3`, `cpu-map 1/1 0-3`): with `auto:`, its first CPU.
        map.process = Some(if auto {
            cpus.iter().next().copied().into_iter().collect()
        } else {
            cpus
        });
        return;
    }
    let mut left = cpus.iter().copied();
    for t in (0..LONGBITS as usize).filter(|t| thread & (1 << t) != 0) {
        let set: CpuSet = if auto {
            left.next().into_iter().collect()
        } else {
            cpus.clone()
        };
        if map.threads.len() <= t {
            map.threads.resize(t + 1, None);
        }
        map.threads[t] = Some(set);
    }
}

/// `parse_process_number()`: `all`, `odd`, `even`, `N`, `N-M`, `N-` as a mask (bit 0: 1).
fn numbers(arg: &str) -> Result<u64, String> {
    match arg {
        "all" => return Ok(u64::MAX),
        "odd" => return Ok(u64::MAX / 3),
        "even" => return Ok((u64::MAX / 3) << 1),
        _ => {}
    }
    let invalid = || format!("'{arg}' is not a valid number/range.");
    if arg.is_empty()
        || arg.chars().any(|c| !c.is_ascii_digit() && c != '-')
        || arg.matches('-').count() > 1
    {
        return Err(invalid());
    }
    let (low, high) = match arg.split_once('-') {
        Some((l, "")) => (leading(l), LONGBITS),
        Some((l, h)) => (leading(l), leading(h)),
        None => (leading(arg), leading(arg)),
    };
    let (low, high) = (low.min(high), low.max(high));
    if low < 1 || high > LONGBITS {
        return Err(format!(
            "'{arg}' is not a valid number/range. It supports numbers from 1 to {LONGBITS}.\n"
        ));
    }
    Ok((low..=high).fold(0, |m, n| m | 1 << (n - 1)))
}

/// `str2uic()`: the leading digits as a number (0 without any).
fn leading(s: &str) -> u32 {
    let digits: String = s.chars().take_while(char::is_ascii_digit).collect();
    digits.parse().unwrap_or(u32::MAX)
}

/// `parse_cpu_set()` without commas: each argument a CPU or a range `N-M` (`N-`: to the last).
fn cpu_set<'a>(args: impl Iterator<Item = &'a str>) -> Result<CpuSet, String> {
    let mut set = CpuSet::new();
    for arg in args {
        if !arg.starts_with(|c: char| c.is_ascii_digit()) {
            return Err(format!("'{arg}' is not a CPU range."));
        }
        let low = leading(arg) as usize;
        let high = match arg.split_once('-') {
            Some((_, "")) => CPUSET_SIZE - 1,
            Some((_, h)) => leading(h) as usize,
            None => low,
        };
        let (low, high) = (low.min(high), low.max(high));
        if high >= CPUSET_SIZE {
            return Err(format!(
                "supports CPU numbers from 0 to {}.",
                CPUSET_SIZE - 1
            ));
        }
        set.extend(low..=high);
    }
    Ok(set)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn process_and_thread_numbers_read_as_haproxy() {
        assert_eq!(numbers("1"), Ok(1));
        assert_eq!(numbers("1-4"), Ok(0b1111));
        assert_eq!(numbers("4-2"), Ok(0b1110));
        assert_eq!(numbers("63-"), Ok(0b11 << 62));
        assert_eq!(numbers("odd").map(|m| m & 0b1111), Ok(0b0101));
        assert!(numbers("0").is_err());
        assert!(numbers("65").is_err());
        assert!(numbers("x").is_err());
    }

    #[test]
    fn cpu_sets_read_as_haproxy() {
        assert_eq!(cpu_set(["0-3"].into_iter()), Ok(CpuSet::from([0, 1, 2, 3])));
        assert_eq!(
            cpu_set(["1", "3-2"].into_iter()),
            Ok(CpuSet::from([1, 2, 3]))
        );
        assert_eq!(
            cpu_set(["x"].into_iter()),
            Err("'x' is not a CPU range.".to_owned())
        );
        assert!(cpu_set(["2000"].into_iter()).is_err());
    }
}
