//! `paper-exchange --config <file> [--port <p>] [--dialect <d>]`: serves the venue on loopback
//! and prints the address it bound, so a script can read it.

use std::io::Write;
use std::net::{Ipv4Addr, SocketAddr};
use std::path::PathBuf;
use std::process::ExitCode;

use clap::Parser;
use paper_exchange::config::Dialect;
use paper_exchange::{ExchangeConfig, PaperExchange};

#[derive(Parser)]
#[command(
    name = "paper-exchange",
    about = "A local exchange speaking the Binance, Kraken or Coinbase spot REST dialect"
)]
struct Args {
    /// The TOML config: markets, accounts, fees, rate limits, faults.
    #[arg(long)]
    config: PathBuf,
    /// The port on 127.0.0.1; 0 (the default) picks a free one.
    #[arg(long, default_value_t = 0)]
    port: u16,
    /// The dialect to speak, over the config's `dialect`.
    #[arg(long, value_enum)]
    dialect: Option<Dialect>,
}

#[tokio::main]
async fn main() -> ExitCode {
    let args = Args::parse();
    let mut config = match ExchangeConfig::load(&args.config) {
        Ok(c) => c,
        Err(e) => {
            eprintln!("paper-exchange: {e}");
            return ExitCode::FAILURE;
        }
    };
    if let Some(dialect) = args.dialect {
        config.dialect = dialect;
    }
    let addr = SocketAddr::from((Ipv4Addr::LOCALHOST, args.port));
    let exchange = match PaperExchange::start(config, addr).await {
        Ok(x) => x,
        Err(e) => {
            eprintln!("paper-exchange: {e}");
            return ExitCode::FAILURE;
        }
    };
    println!("listening on {}", exchange.base_url());
    let _ = std::io::stdout().flush();
    tokio::select! {
        () = exchange.wait() => {}
        _ = tokio::signal::ctrl_c() => {}
    }
    ExitCode::SUCCESS
}
