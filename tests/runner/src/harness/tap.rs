//! Reads the TAP 13 output a guest test case prints on the console.

/// One test point.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Point {
    pub ok: bool,
    pub number: u32,
    pub description: String,
}

/// What one guest test case printed.
#[derive(Debug, Default, Clone, PartialEq, Eq)]
pub struct TapRun {
    pub plan: Option<u32>,
    pub points: Vec<Point>,
    pub bail_out: Option<String>,
    /// The status `/init` printed after the case (`vmrs-exit N`).
    pub exit: Option<i32>,
}

/// What a console line means to the TAP reader.
#[derive(Debug, PartialEq, Eq)]
pub enum Line {
    Version,
    Plan(u32),
    Point(Point),
    Diagnostic(String),
    BailOut(String),
    Exit(i32),
    /// Anything else: kernel messages, stray output.
    Other,
}

fn parse_point(rest: &str, ok: bool) -> Option<Point> {
    let (number, description) = match rest.split_once(' ') {
        Some((n, d)) => (n, d.trim_start_matches(['-', ' '])),
        None => (rest, ""),
    };
    Some(Point {
        ok,
        number: number.parse().ok()?,
        description: description.to_string(),
    })
}

/// Classifies one console line.
pub fn parse_line(line: &str) -> Line {
    let line = line.trim_end_matches(['\r', '\n']);
    if line == "TAP version 13" {
        return Line::Version;
    }
    if let Some(rest) = line.strip_prefix("1..") {
        if let Ok(n) = rest.trim().parse() {
            return Line::Plan(n);
        }
    }
    if let Some(rest) = line.strip_prefix("ok ") {
        if let Some(p) = parse_point(rest, true) {
            return Line::Point(p);
        }
    }
    if let Some(rest) = line.strip_prefix("not ok ") {
        if let Some(p) = parse_point(rest, false) {
            return Line::Point(p);
        }
    }
    if let Some(rest) = line.strip_prefix("Bail out!") {
        return Line::BailOut(rest.trim().to_string());
    }
    if let Some(rest) = line.strip_prefix("vmrs-exit ") {
        if let Ok(n) = rest.trim().parse() {
            return Line::Exit(n);
        }
    }
    if let Some(rest) = line.strip_prefix('#') {
        return Line::Diagnostic(rest.trim().to_string());
    }
    Line::Other
}

impl TapRun {
    /// Takes in one console line; returns what it was.
    pub fn feed(&mut self, line: &str) -> Line {
        let parsed = parse_line(line);
        match &parsed {
            Line::Plan(n) => self.plan = Some(*n),
            Line::Point(p) => self.points.push(p.clone()),
            Line::BailOut(why) => self.bail_out = Some(why.clone()),
            Line::Exit(n) => self.exit = Some(*n),
            _ => {}
        }
        parsed
    }

    /// Why this run is not a pass, or `None` when it is one: a plan, exactly
    /// that many points numbered in order, all ok, and a clean exit.
    pub fn problems(&self) -> Vec<String> {
        let mut why = Vec::new();
        let Some(plan) = self.plan else {
            why.push("no TAP plan line".to_string());
            return why;
        };
        if let Some(b) = &self.bail_out {
            why.push(format!("bailed out: {b}"));
        }
        if self.points.len() != plan as usize {
            why.push(format!("planned {plan} tests, ran {}", self.points.len()));
        }
        for (i, p) in self.points.iter().enumerate() {
            if p.number as usize != i + 1 {
                why.push(format!("test {} numbered {}", i + 1, p.number));
            }
            if !p.ok {
                why.push(format!("not ok {} - {}", p.number, p.description));
            }
        }
        match self.exit {
            None => why.push("the case did not finish".to_string()),
            Some(0) => {}
            Some(n) => why.push(format!("the case exited with status {n}")),
        }
        why
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn run(text: &str) -> TapRun {
        let mut r = TapRun::default();
        for l in text.lines() {
            r.feed(l);
        }
        r
    }

    #[test]
    fn passing_run() {
        let r =
            run("TAP version 13\n1..2\nok 1 - a\n[ 1.0] kernel says hi\nok 2 - b\nvmrs-exit 0\n");
        assert_eq!(r.plan, Some(2));
        assert_eq!(r.points[1].description, "b");
        assert!(r.problems().is_empty());
    }

    #[test]
    fn failing_point_is_reported() {
        let r = run("1..2\nok 1 - a\nnot ok 2 - size reaches 1 GiB\nvmrs-exit 1\n");
        let p = r.problems();
        assert!(p.iter().any(|s| s == "not ok 2 - size reaches 1 GiB"));
        assert!(p.iter().any(|s| s.contains("status 1")));
    }

    #[test]
    fn missing_points_and_exit_are_reported() {
        let r = run("1..3\nok 1 - a\n");
        let p = r.problems();
        assert!(p.iter().any(|s| s == "planned 3 tests, ran 1"));
        assert!(p.iter().any(|s| s == "the case did not finish"));
    }

    #[test]
    fn no_plan_is_a_failure() {
        assert_eq!(
            run("ok 1 - a\nvmrs-exit 0\n").problems(),
            vec!["no TAP plan line"]
        );
    }

    #[test]
    fn misnumbered_points_are_reported() {
        let r = run("1..2\nok 1 - a\nok 3 - b\nvmrs-exit 0\n");
        assert_eq!(r.problems(), vec!["test 2 numbered 3"]);
    }

    #[test]
    fn classifies_lines() {
        assert_eq!(
            parse_line("# boot MemTotal 1 kB"),
            Line::Diagnostic("boot MemTotal 1 kB".into())
        );
        assert_eq!(
            parse_line("Bail out! no device"),
            Line::BailOut("no device".into())
        );
        assert_eq!(parse_line("vmrs-exit 127\r"), Line::Exit(127));
        assert_eq!(parse_line("okay"), Line::Other);
        assert_eq!(
            parse_line("ok 7"),
            Line::Point(Point {
                ok: true,
                number: 7,
                description: String::new()
            })
        );
    }
}
