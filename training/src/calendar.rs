//! Reading a holiday table (`date,name[,name_local]`, one row per day) into a
//! [`HolidayCalendar`].

use std::collections::HashMap;
use std::path::Path;

use chrono::NaiveDate;
use civicast_model::{Holiday, HolidayCalendar};

use crate::problem::{Problem, ProblemKind, Report};
use crate::table::{Table, Value};

/// Reads the holiday table at `path`; problems go to `report`.
pub fn load_calendar(path: &Path, report: &mut Report) -> Option<HolidayCalendar> {
    let mut problems = Report::new();
    let Some(table) = Table::read(path, &["date", "name"], &["name_local"], &mut problems) else {
        retag(problems, report);
        return None;
    };
    let mut seen: HashMap<NaiveDate, usize> = HashMap::new();
    let mut holidays = Vec::with_capacity(table.height);
    for row in 0..table.height {
        let at = table.location(row);
        let date = match &table.column("date")[row] {
            Value::Text(s) => NaiveDate::parse_from_str(s.trim(), "%Y-%m-%d").ok(),
            Value::Time(t) if t.time() == chrono::NaiveTime::MIN => Some(t.date()),
            _ => None,
        };
        let Some(date) = date else {
            problems.push(
                Problem::new(
                    ProblemKind::BadCalendar,
                    path,
                    "expected a date like 2025-10-06",
                )
                .at(at)
                .in_column("date"),
            );
            continue;
        };
        if let Some(&earlier) = seen.get(&date) {
            problems.push(
                Problem::new(
                    ProblemKind::BadCalendar,
                    path,
                    format!(
                        "{date} appears twice (also at {}); join the names of one day with \"; \"",
                        table.location(earlier)
                    ),
                )
                .at(at)
                .in_column("date"),
            );
            continue;
        }
        seen.insert(date, row);
        let text = |column: &str| match table.column(column).get(row) {
            Some(Value::Text(s)) if !s.trim().is_empty() => Some(s.trim().to_owned()),
            _ => None,
        };
        let Some(name) = text("name") else {
            problems.push(
                Problem::new(
                    ProblemKind::BadCalendar,
                    path,
                    "expected the holiday's name",
                )
                .at(at)
                .in_column("name"),
            );
            continue;
        };
        holidays.push(Holiday {
            date,
            name,
            name_local: text("name_local"),
        });
    }
    let ok = problems.is_empty();
    retag(problems, report);
    ok.then(|| HolidayCalendar::new(holidays))
}

/// Moves problems into `report`, marking data-file kinds as calendar problems so that a reader
/// knows which file of the dataset they are about.
fn retag(problems: Report, report: &mut Report) {
    let mut retagged = Report::new();
    for mut problem in problems.problems().iter().cloned() {
        if !matches!(
            problem.kind,
            ProblemKind::MissingFile | ProblemKind::UnreadableFile
        ) {
            problem.kind = ProblemKind::BadCalendar;
        }
        retagged.push(problem);
    }
    let unlisted = problems.total() - problems.problems().len();
    report.extend(retagged);
    report.add_uncounted(unlisted);
}
