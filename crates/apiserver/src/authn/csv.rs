//! The CSV dialect of Go's `encoding/csv` with the settings upstream's token file reader
//! uses (any number of fields per record, strict quotes, no comments, no trimming), so a
//! token file upstream accepts means the same here.

/// One record and the line it starts on (1-based).
#[derive(Debug, PartialEq, Eq)]
pub(crate) struct Record {
    pub line: usize,
    pub fields: Vec<String>,
}

/// A syntax error and its line (1-based).
#[derive(Debug, PartialEq, Eq)]
pub(crate) struct CsvError {
    pub line: usize,
    pub message: &'static str,
}

/// Parses `text` into records.
///
/// Records end at `\n` (or `\r\n`); empty lines are skipped. A field starting with `"` is
/// quoted: `""` inside it is one quote, and it may span lines. A quote anywhere else is
/// an error, as with Go's non-lazy quotes.
pub(crate) fn parse(text: &str) -> Result<Vec<Record>, CsvError> {
    let text = text.replace("\r\n", "\n");
    let mut chars = text.chars().peekable();
    let mut line = 1;
    let mut records = Vec::new();
    while let Some(&first) = chars.peek() {
        if first == '\n' {
            chars.next();
            line += 1;
            continue;
        }
        let start = line;
        let mut fields = Vec::new();
        loop {
            let mut field = String::new();
            if chars.peek() == Some(&'"') {
                chars.next();
                loop {
                    match chars.next() {
                        None => return Err(CsvError { line: start, message: "quoted field is never closed" }),
                        Some('"') => match chars.peek() {
                            Some('"') => {
                                chars.next();
                                field.push('"');
                            }
                            Some(',') | Some('\n') | None => break,
                            Some(_) => {
                                return Err(CsvError { line, message: "extraneous or missing \" in quoted field" })
                            }
                        },
                        Some('\n') => {
                            line += 1;
                            field.push('\n');
                        }
                        Some(c) => field.push(c),
                    }
                }
            } else {
                while let Some(&c) = chars.peek() {
                    match c {
                        ',' | '\n' => break,
                        '"' => return Err(CsvError { line, message: "bare \" in non-quoted field" }),
                        _ => {
                            field.push(c);
                            chars.next();
                        }
                    }
                }
            }
            fields.push(field);
            // The field ended before a comma, a newline or the end of the text.
            match chars.next() {
                Some(',') => continue,
                Some(_) => {
                    line += 1;
                    break;
                }
                None => break,
            }
        }
        records.push(Record { line: start, fields });
    }
    Ok(records)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn fields(text: &str) -> Vec<Vec<String>> {
        parse(text).unwrap().into_iter().map(|r| r.fields).collect()
    }

    #[test]
    fn plain_and_quoted_fields() {
        assert_eq!(
            fields("a,b,c\n\"x,y\",\"say \"\"hi\"\"\",\n"),
            [vec!["a", "b", "c"], vec!["x,y", "say \"hi\"", ""]]
        );
    }

    #[test]
    fn empty_lines_are_skipped_and_lines_are_counted() {
        let records = parse("\n\na,b\r\n\r\nc\n").unwrap();
        assert_eq!(records.iter().map(|r| r.line).collect::<Vec<_>>(), [3, 5]);
        assert_eq!(records[1].fields, ["c"]);
    }

    #[test]
    fn quoted_field_may_span_lines() {
        let records = parse("\"a\nb\",c\nd\n").unwrap();
        assert_eq!(records[0].fields, ["a\nb", "c"]);
        assert_eq!(records[1].line, 3);
    }

    #[test]
    fn last_line_without_newline() {
        assert_eq!(fields("a,b"), [vec!["a", "b"]]);
        assert_eq!(fields("a,"), [vec!["a", ""]]);
    }

    #[test]
    fn quote_errors_carry_their_line() {
        assert_eq!(parse("ok\nab\"c\n").unwrap_err(), CsvError { line: 2, message: "bare \" in non-quoted field" });
        assert_eq!(parse("ok\n\"ab\"c\n").unwrap_err().line, 2);
        assert_eq!(
            parse("ok\n\n\"never closed\nmore\n").unwrap_err(),
            CsvError { line: 3, message: "quoted field is never closed" }
        );
    }
}
