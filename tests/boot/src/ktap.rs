//! A reader for the KTAP version 1 the kernel prints: top-level suites with
//! one level of nested cases, plus the kernel's summary line.

#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Result {
    Ok,
    NotOk,
    Skip(String),
}

#[derive(Clone, Debug)]
pub struct Case {
    pub suite: String,
    pub number: usize,
    pub name: String,
    pub result: Result,
}

#[derive(Clone, Debug, Default)]
pub struct Report {
    pub version_seen: bool,
    pub plan: Option<usize>,
    /// (number, name, result) of each top-level suite line.
    pub suites: Vec<(usize, String, Result)>,
    pub cases: Vec<Case>,
    /// Case plans per suite, as printed.
    pub suite_plans: Vec<(String, usize)>,
    /// (passed, failed, skipped) from `selftest: N passed, N failed, N skipped`.
    pub summary: Option<(usize, usize, usize)>,
}

fn parse_result(rest: &str) -> Option<(usize, String, Result)> {
    let (ok, rest) = if let Some(r) = rest.strip_prefix("not ok ") {
        (false, r)
    } else {
        (true, rest.strip_prefix("ok ")?)
    };
    let (num, rest) = rest.split_once(' ')?;
    let number = num.parse().ok()?;
    let (name, directive) = match rest.split_once(" # ") {
        Some((n, d)) => (n, Some(d)),
        None => (rest, None),
    };
    let result = match (ok, directive) {
        (true, Some(d)) if d.starts_with("SKIP") => {
            Result::Skip(d.trim_start_matches("SKIP").trim().to_string())
        }
        (true, _) => Result::Ok,
        (false, _) => Result::NotOk,
    };
    Some((number, name.to_string(), result))
}

pub fn parse(console: &str) -> Report {
    let mut r = Report::default();
    let mut current_suite = String::new();
    for line in console.lines() {
        if line == "KTAP version 1" {
            r.version_seen = true;
        } else if let Some(n) = line.strip_prefix("1..") {
            r.plan = n.parse().ok();
        } else if let Some(name) = line.strip_prefix("    # Subtest: ") {
            current_suite = name.to_string();
        } else if let Some(n) = line.strip_prefix("    1..") {
            if let Ok(n) = n.parse() {
                r.suite_plans.push((current_suite.clone(), n));
            }
        } else if let Some(rest) = line.strip_prefix("    ") {
            if let Some((number, name, result)) = parse_result(rest) {
                r.cases.push(Case {
                    suite: current_suite.clone(),
                    number,
                    name,
                    result,
                });
            }
        } else if let Some(s) = parse_result(line) {
            r.suites.push(s);
        } else if let Some(rest) = line.strip_prefix("selftest: ") {
            let nums: Vec<usize> = rest
                .split(", ")
                .filter_map(|p| p.split(' ').next()?.parse().ok())
                .collect();
            if nums.len() == 3 {
                r.summary = Some((nums[0], nums[1], nums[2]));
            }
        }
    }
    r
}

impl Report {
    pub fn failed_cases(&self) -> Vec<&Case> {
        self.cases
            .iter()
            .filter(|c| c.result == Result::NotOk)
            .collect()
    }

    /// Checks the report is whole and consistent: a version line, a plan
    /// matching the suites, each suite's plan matching its cases, and a
    /// summary matching the case results.
    pub fn check_consistent(&self) -> std::result::Result<(), String> {
        if !self.version_seen {
            return Err("no 'KTAP version 1' line".into());
        }
        if self.plan != Some(self.suites.len()) {
            return Err(format!(
                "plan {:?} but {} suite results",
                self.plan,
                self.suites.len()
            ));
        }
        for (suite, n) in &self.suite_plans {
            let got = self.cases.iter().filter(|c| &c.suite == suite).count();
            if got != *n {
                return Err(format!("suite {suite}: plan 1..{n} but {got} cases"));
            }
        }
        let passed = self.cases.iter().filter(|c| c.result == Result::Ok).count();
        let failed = self.failed_cases().len();
        let skipped = self.cases.len() - passed - failed;
        match self.summary {
            Some((p, f, s)) if (p, f, s) == (passed, failed, skipped) => Ok(()),
            Some(s) if failed == 0 && s.1 > 0 => Ok(()), // failures outside cases (unknown suites)
            other => Err(format!(
                "summary {other:?} but cases say ({passed}, {failed}, {skipped})"
            )),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const SAMPLE: &str = "KTAP version 1\n1..2\n    KTAP version 1\n    # Subtest: a\n    1..2\n    ok 1 x\n    not ok 2 y\nnot ok 1 a\n    KTAP version 1\n    # Subtest: b\n    1..1\n    ok 1 z # SKIP no hardware\nok 2 b # SKIP every case skipped\nselftest: 1 passed, 1 failed, 1 skipped\n";

    #[test]
    fn parses_nested_suites_skips_and_summary() {
        let r = parse(SAMPLE);
        assert_eq!(r.plan, Some(2));
        assert_eq!(r.suites.len(), 2);
        assert_eq!(r.cases.len(), 3);
        assert_eq!(r.cases[1].result, Result::NotOk);
        assert_eq!(r.cases[2].result, Result::Skip("no hardware".into()));
        assert_eq!(r.summary, Some((1, 1, 1)));
        assert!(r.check_consistent().is_ok());
    }

    #[test]
    fn inconsistent_summary_is_caught() {
        let r = parse(&SAMPLE.replace("1 passed", "2 passed"));
        assert!(r.check_consistent().is_err());
        let r = parse(&SAMPLE.replace("    1..1\n", "    1..4\n"));
        assert!(r.check_consistent().is_err());
    }
}
