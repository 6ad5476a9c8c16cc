//! CSV in and out of `POST /v1/risk`, for planners' spreadsheets.
//!
//! Written here rather than taken from a crate: the service reads one small table per request
//! (a header row and at most a few hundred lines) and writes one, and a dependency for that would
//! be larger than the ~100 lines it replaces. It reads RFC 4180: comma-separated, fields quoted
//! with `"` when they hold commas, quotes (doubled) or line breaks, CRLF or LF line ends, and the
//! UTF-8 byte-order mark that spreadsheet programs put in front.
//!
//! Text written back (ids, names, reasons, errors) that a spreadsheet would take for a formula
//! (starting with `=`, `+`, `-` or `@`) is prefixed with `'`: the caller chose those strings and a
//! planner opens the file, so a cell must never run as a formula ("CSV injection").

/// A parse failure, naming the record (1-based, the header is record 1).
#[derive(Debug, PartialEq, Eq)]
pub struct CsvError {
    /// Record number in the file (the header is 1).
    pub record: usize,
    /// What is wrong.
    pub detail: String,
}

/// How much of a table is kept: what a request's CPU and memory may go to before it is refused.
#[derive(Clone, Copy, Debug)]
pub struct Limits {
    /// Records kept (the header included); later ones are only counted.
    pub records: usize,
    /// Fields one record may have; more is an error (a row of a million commas would otherwise
    /// be a million empty strings).
    pub fields: usize,
}

/// A table: its first records and how many there are in all.
#[derive(Debug, PartialEq, Eq)]
pub struct Table {
    /// The first [`Limits::records`] records.
    pub records: Vec<Vec<String>>,
    /// Records in the text, kept or not.
    pub total: usize,
}

/// Splits `text` into records of fields, keeping at most `limits.records`. Blank lines are
/// skipped.
pub fn parse(text: &str, limits: Limits) -> Result<Table, CsvError> {
    let text = text.strip_prefix('\u{feff}').unwrap_or(text);
    let mut table = Table {
        records: Vec::new(),
        total: 0,
    };
    let records = &mut table;
    let mut record: Vec<String> = Vec::new();
    let mut field = String::new();
    let mut quoted = false;
    let mut chars = text.chars().peekable();
    let mut field_started_quoted = false;
    while let Some(c) = chars.next() {
        if quoted {
            match c {
                '"' if chars.peek() == Some(&'"') => {
                    chars.next();
                    field.push('"');
                }
                '"' => quoted = false,
                _ => field.push(c),
            }
            continue;
        }
        match c {
            '"' if field.is_empty() && !field_started_quoted => {
                quoted = true;
                field_started_quoted = true;
            }
            '"' => {
                return Err(CsvError {
                    record: records.len() + 1,
                    detail: "a quote inside an unquoted field; quote the whole field and double the quote".into(),
                });
            }
            ',' => {
                record.push(std::mem::take(&mut field));
                field_started_quoted = false;
                if record.len() >= limits.fields {
                    return Err(CsvError {
                        record: records.len() + 1,
                        detail: format!("more than {} cells in one row", limits.fields),
                    });
                }
            }
            '\r' if chars.peek() == Some(&'\n') => {}
            '\n' | '\r' => {
                record.push(std::mem::take(&mut field));
                field_started_quoted = false;
                records.add(&mut record, limits);
            }
            _ => field.push(c),
        }
    }
    if quoted {
        return Err(CsvError {
            record: records.len() + 1,
            detail: "a quoted field is not closed".into(),
        });
    }
    if !field.is_empty() || !record.is_empty() || field_started_quoted {
        record.push(field);
        records.add(&mut record, limits);
    }
    Ok(table)
}

impl Table {
    /// Records so far, kept or not: what an error's record number counts.
    fn len(&self) -> usize {
        self.total
    }

    /// Takes `record` (leaving it empty): kept while under the limit, counted always; a blank
    /// line is neither.
    fn add(&mut self, record: &mut Vec<String>, limits: Limits) {
        if record.len() == 1 && record[0].trim().is_empty() {
            record.clear();
            return;
        }
        self.total += 1;
        if self.records.len() < limits.records {
            self.records.push(std::mem::take(record));
        } else {
            record.clear();
        }
    }
}

/// One field as CSV: quoted when it must be.
pub fn field(text: &str) -> String {
    if text.contains([',', '"', '\n', '\r']) {
        format!("\"{}\"", text.replace('"', "\"\""))
    } else {
        text.to_owned()
    }
}

/// Caller-controlled text made safe for a spreadsheet (shown as text, never run as a formula);
/// still to be quoted with [`field`] like every cell.
pub fn defuse(text: &str) -> String {
    if text.starts_with(['=', '+', '-', '@', '\t', '\r']) {
        format!("'{text}")
    } else {
        text.to_owned()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const ALL: Limits = Limits {
        records: usize::MAX,
        fields: 64,
    };

    fn parse(text: &str) -> Result<Vec<Vec<String>>, CsvError> {
        super::parse(text, ALL).map(|t| t.records)
    }

    #[test]
    fn keeps_the_first_records_and_counts_the_rest() {
        let limits = Limits {
            records: 2,
            fields: 3,
        };
        let table = super::parse("h\na\n\nb\n\"c\nd\"\ne", limits).unwrap();
        assert_eq!(table.records, vec![vec!["h"], vec!["a"]]);
        assert_eq!(table.total, 5);
        let err = super::parse("a,b,c,d\n", limits).unwrap_err();
        assert!(err.detail.contains("more than 3 cells"), "{}", err.detail);
    }

    #[test]
    fn reads_quoted_fields_crlf_and_a_byte_order_mark() {
        let text = "\u{feff}id,name\r\n\"a, b\",\"say \"\"hi\"\"\"\r\n\r\nc,\n";
        assert_eq!(
            parse(text).unwrap(),
            vec![
                vec!["id".to_owned(), "name".to_owned()],
                vec!["a, b".to_owned(), "say \"hi\"".to_owned()],
                vec!["c".to_owned(), String::new()],
            ]
        );
    }

    #[test]
    fn an_unclosed_quote_names_its_record() {
        let err = parse("a,b\n\"open,1\n").unwrap_err();
        assert_eq!(err.record, 2);
    }

    #[test]
    fn writes_what_it_reads_and_defuses_formulas() {
        let original = "x, \"y\"";
        assert_eq!(parse(&field(original)).unwrap(), vec![vec![original]]);
        assert_eq!(field(&defuse("=HYPERLINK(1)")), "'=HYPERLINK(1)");
        assert_eq!(field(&defuse("a, b")), "\"a, b\"");
        assert_eq!(defuse("plain"), "plain");
    }
}
