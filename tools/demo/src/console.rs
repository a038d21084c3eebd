//! The demo as a deployment the operator's console can reach: with `--keep` (`make demo
//! KEEP=1`) the emulator, the table, the queues, the secrets and the paper exchange stay up
//! after the cycles, until Ctrl-C, and the demo prints the one line to export so every
//! `driftline` command runs on the demo's own portfolios. The variables are the ones the
//! console's `Target` flags read (tools/cli/src/console/mod.rs); nothing runs the scheduler or
//! drains the queue meanwhile, so the deployment holds still while it is looked at.

use std::io::Write;

use driftline_sandbox::World;

/// What the console needs to find the demo's deployment without a CloudFormation stack.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct DemoDeployment {
    pub endpoint: String,
    pub table: String,
    pub queue_url: String,
    pub dead_letter_url: String,
    /// The default account's secret: portfolios that name no account trade on it.
    pub secret_id: String,
    pub exchange_url: String,
}

impl DemoDeployment {
    /// The demo world's resources, on the emulator at `endpoint`.
    pub fn of(world: &World, endpoint: &str) -> Self {
        Self {
            endpoint: endpoint.to_owned(),
            table: world.store.table().to_owned(),
            queue_url: world.queue_url.clone(),
            dead_letter_url: world.dead_letter_url.clone(),
            secret_id: world
                .secret_ids
                .first()
                .map(|(_, id)| id.clone())
                .unwrap_or_default(),
            exchange_url: world.venue.base_url(),
        }
    }

    /// The environment that points the console here: the emulator's endpoint, region and dummy
    /// credentials (the emulator takes any), then one variable per resource.
    pub fn env(&self) -> Vec<(&'static str, String)> {
        vec![
            ("AWS_ENDPOINT_URL", self.endpoint.clone()),
            ("AWS_REGION", "us-east-1".into()),
            ("AWS_ACCESS_KEY_ID", "testing".into()),
            ("AWS_SECRET_ACCESS_KEY", "testing".into()),
            ("DRIFTLINE_TABLE", self.table.clone()),
            ("DRIFTLINE_QUEUE_URL", self.queue_url.clone()),
            (
                "DRIFTLINE_DEAD_LETTER_QUEUE_URL",
                self.dead_letter_url.clone(),
            ),
            ("DRIFTLINE_SECRET_ID", self.secret_id.clone()),
            ("DRIFTLINE_EXCHANGE_URL", self.exchange_url.clone()),
        ]
    }
}

/// `export NAME=value …` for a POSIX shell, each value quoted when it needs to be.
pub fn export_line(env: &[(&str, String)]) -> String {
    let quoted = |v: &str| {
        let plain = !v.is_empty()
            && v.chars()
                .all(|c| c.is_ascii_alphanumeric() || "-_./:@%+=,".contains(c));
        if plain {
            v.to_owned()
        } else {
            format!("'{}'", v.replace('\'', r"'\''"))
        }
    };
    let pairs: Vec<String> = env
        .iter()
        .map(|(name, value)| format!("{name}={}", quoted(value)))
        .collect();
    format!("export {}", pairs.join(" "))
}

/// Prints how to reach the demo and waits for Ctrl-C.
///
/// # Errors
/// When the output cannot be written or the signal cannot be listened for.
pub async fn stay_up(deployment: &DemoDeployment, out: &mut impl Write) -> std::io::Result<()> {
    writeln!(
        out,
        "━━ the demo stays up: paste this line in another shell, then try the console there \
         (Ctrl-C here stops everything)"
    )?;
    writeln!(out, "{}", export_line(&deployment.env()))?;
    writeln!(
        out,
        "driftline status · driftline orders · driftline portfolio list · \
         driftline history article --png out/demo/article.png · driftline dlq list · \
         driftline plan --live article · driftline halt --reason \"trying the kill switch\" · \
         driftline resume"
    )?;
    writeln!(
        out,
        "(`make install` puts `driftline` on your PATH; or run `cargo run -q -p driftline-cli --`. \
         `run-now` needs a deployed scheduler function: the demo's runs in this process)"
    )?;
    out.flush()?;
    tokio::signal::ctrl_c().await
}

#[cfg(test)]
mod tests {
    use super::*;
    use clap::Args;
    use driftline_cli::console::Target;

    fn deployment() -> DemoDeployment {
        DemoDeployment {
            endpoint: "http://127.0.0.1:57445".into(),
            table: "driftline-30904-0".into(),
            queue_url: "http://127.0.0.1:57445/123456789012/intents-30904-1".into(),
            dead_letter_url: "http://127.0.0.1:57445/123456789012/intents-30904-1-dlq".into(),
            secret_id: "driftline/exchange/article-30904-3".into(),
            exchange_url: "http://127.0.0.1:36663".into(),
        }
    }

    #[test]
    fn the_export_names_the_variables_the_console_reads_for_each_resource() {
        let console = Target::augment_args(clap::Command::new("driftline"));
        let read = |flag: &str| {
            console
                .get_arguments()
                .find(|a| a.get_long() == Some(flag))
                .and_then(|a| a.get_env())
                .map(|e| e.to_string_lossy().into_owned())
                .unwrap_or_else(|| panic!("the console has no --{flag} with a variable"))
        };
        let env = deployment().env();
        let value = |name: &str| {
            env.iter()
                .find(|(n, _)| *n == name)
                .map(|(_, v)| v.as_str())
                .unwrap_or_else(|| panic!("{name} is not exported"))
        };
        let d = deployment();
        for (flag, want) in [
            ("table", d.table.as_str()),
            ("queue-url", &d.queue_url),
            ("dead-letter-queue-url", &d.dead_letter_url),
            ("secret-id", &d.secret_id),
            ("exchange-url", &d.exchange_url),
        ] {
            assert_eq!(value(&read(flag)), want, "--{flag}");
        }
        let driftline_vars = env
            .iter()
            .filter(|(n, _)| n.starts_with("DRIFTLINE_"))
            .count();
        assert_eq!(driftline_vars, 5, "{env:?}");
        assert_eq!(value("AWS_ENDPOINT_URL"), "http://127.0.0.1:57445");
    }

    #[test]
    fn the_export_line_is_one_shell_line_with_values_quoted_only_when_needed() {
        assert_eq!(
            export_line(&deployment().env()),
            "export AWS_ENDPOINT_URL=http://127.0.0.1:57445 AWS_REGION=us-east-1 \
             AWS_ACCESS_KEY_ID=testing AWS_SECRET_ACCESS_KEY=testing \
             DRIFTLINE_TABLE=driftline-30904-0 \
             DRIFTLINE_QUEUE_URL=http://127.0.0.1:57445/123456789012/intents-30904-1 \
             DRIFTLINE_DEAD_LETTER_QUEUE_URL=http://127.0.0.1:57445/123456789012/intents-30904-1-dlq \
             DRIFTLINE_SECRET_ID=driftline/exchange/article-30904-3 \
             DRIFTLINE_EXCHANGE_URL=http://127.0.0.1:36663"
        );
        assert_eq!(
            export_line(&[
                ("A", "two words".into()),
                ("B", "it's".into()),
                ("C", String::new())
            ]),
            r"export A='two words' B='it'\''s' C=''"
        );
    }
}
