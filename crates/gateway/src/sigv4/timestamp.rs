//! SigV4 timestamps: ISO 8601 basic format in UTC, `yyyymmddThhmmssZ`, to and from seconds
//! since the Unix epoch (proleptic Gregorian calendar).

const SECS_PER_DAY: i64 = 86_400;

/// Seconds since the epoch of `text`, or `None` unless it is exactly `yyyymmddThhmmssZ` naming a
/// real date and a time up to 23:59:59.
pub(super) fn parse(text: &str) -> Option<i64> {
    let bytes = text.as_bytes();
    if bytes.len() != 16 || bytes[8] != b'T' || bytes[15] != b'Z' {
        return None;
    }
    let number = |from: usize, to: usize| {
        bytes[from..to].iter().try_fold(0i64, |value, &digit| {
            digit
                .is_ascii_digit()
                .then(|| value * 10 + i64::from(digit - b'0'))
        })
    };
    let (year, month, day) = (number(0, 4)?, number(4, 6)?, number(6, 8)?);
    let (hour, minute, second) = (number(9, 11)?, number(11, 13)?, number(13, 15)?);
    let valid = (1..=12).contains(&month)
        && (1..=days_in_month(year, month)).contains(&day)
        && hour < 24
        && minute < 60
        && second < 60;
    valid.then(|| {
        days_from_civil(year, month, day) * SECS_PER_DAY + hour * 3600 + minute * 60 + second
    })
}

/// `yyyymmddThhmmssZ` for `secs` since the epoch.
pub(super) fn format(secs: i64) -> String {
    let (days, time) = (secs.div_euclid(SECS_PER_DAY), secs.rem_euclid(SECS_PER_DAY));
    let (year, month, day) = civil_from_days(days);
    format!(
        "{year:04}{month:02}{day:02}T{:02}{:02}{:02}Z",
        time / 3600,
        time % 3600 / 60,
        time % 60
    )
}

fn days_in_month(year: i64, month: i64) -> i64 {
    match month {
        2 if year % 4 == 0 && (year % 100 != 0 || year % 400 == 0) => 29,
        2 => 28,
        4 | 6 | 9 | 11 => 30,
        _ => 31,
    }
}

// The two conversions below count in 400-year eras of 146,097 days starting on 1 March, so that
// a leap day falls at the end of its year (Howard Hinnant, "chrono-Compatible Low-Level Date
// Algorithms"). 719,468 is the number of days from 0000-03-01 to 1970-01-01.

fn days_from_civil(year: i64, month: i64, day: i64) -> i64 {
    let year = if month <= 2 { year - 1 } else { year };
    let era = year.div_euclid(400);
    let year_of_era = year - era * 400;
    let day_of_year = (153 * ((month + 9) % 12) + 2) / 5 + day - 1;
    let day_of_era = year_of_era * 365 + year_of_era / 4 - year_of_era / 100 + day_of_year;
    era * 146_097 + day_of_era - 719_468
}

fn civil_from_days(days: i64) -> (i64, i64, i64) {
    let days = days + 719_468;
    let era = days.div_euclid(146_097);
    let day_of_era = days - era * 146_097;
    let year_of_era =
        (day_of_era - day_of_era / 1460 + day_of_era / 36_524 - day_of_era / 146_096) / 365;
    let day_of_year = day_of_era - (365 * year_of_era + year_of_era / 4 - year_of_era / 100);
    let shifted_month = (5 * day_of_year + 2) / 153;
    let day = day_of_year - (153 * shifted_month + 2) / 5 + 1;
    let month = if shifted_month < 10 {
        shifted_month + 3
    } else {
        shifted_month - 9
    };
    let year = year_of_era + era * 400 + i64::from(month <= 2);
    (year, month, day)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn known_instants_parse_to_their_epoch_seconds() {
        assert_eq!(parse("19700101T000000Z"), Some(0));
        assert_eq!(parse("20261204T120000Z"), Some(1_796_385_600));
        assert_eq!(parse("20000229T235959Z"), Some(951_868_799));
        assert_eq!(parse("19691231T235959Z"), Some(-1));
    }

    #[test]
    fn formatting_inverts_parsing() {
        for text in [
            "19700101T000000Z",
            "20261204T120000Z",
            "20000229T235959Z",
            "21000301T000000Z",
            "19691231T235959Z",
        ] {
            assert_eq!(parse(text).map(format).as_deref(), Some(text));
        }
    }

    #[test]
    fn anything_but_the_basic_format_of_a_real_time_is_refused() {
        for text in [
            "",
            "20261204",
            "2026-12-04T12:00:00Z",
            "20261204T120000",
            "20261204t120000Z",
            "20261204T120000z",
            "20261204T1200000Z",
            "Fri, 04 Dec 2026 12:00:00 GMT",
            "2026120+T120000Z",
            "20261304T120000Z",
            "20261200T120000Z",
            "20270229T120000Z",
            "21000229T120000Z",
            "20261131T120000Z",
            "20261204T240000Z",
            "20261204T126000Z",
            "20261204T120060Z",
        ] {
            assert_eq!(parse(text), None, "{text}");
        }
    }
}
