//! The `synthgate` command: arguments, logging, and errors mapped to exit codes.

use std::path::PathBuf;
use std::process::ExitCode;

use clap::{Args, Parser, Subcommand, ValueEnum};
use synthgate::{Error, config, plan, privacy, run};

#[derive(Parser)]
#[command(
    name = "synthgate",
    version,
    about = "Differentially private synthetic tables, released only through a gate"
)]
struct Cli {
    /// Log format on stderr.
    #[arg(long, value_enum, default_value_t = LogFormat::Text, global = true)]
    log_format: LogFormat,
    #[command(subcommand)]
    command: Command,
}

#[derive(Clone, Copy, ValueEnum)]
enum LogFormat {
    Text,
    Json,
}

#[derive(Subcommand)]
enum Command {
    /// Train, generate, check and release when every check passes.
    Run {
        #[command(flatten)]
        pipeline: PipelineArgs,
        /// Run id (default: time-based and unique).
        #[arg(long)]
        run_id: Option<String>,
    },
    /// Validate the pipeline and print its plan; reads no row.
    Check {
        #[command(flatten)]
        pipeline: PipelineArgs,
    },
    /// Privacy planner: epsilon for a noise multiplier, or the noise multiplier for an epsilon.
    Budget(BudgetArgs),
}

#[derive(Args)]
struct PipelineArgs {
    /// The pipeline file.
    pipeline: PathBuf,
    /// Override a pipeline key by its dotted path, e.g. training.epochs=5 (repeatable).
    #[arg(long = "set", value_name = "KEY=VALUE")]
    overrides: Vec<String>,
}

#[derive(Args)]
struct BudgetArgs {
    /// Poisson sampling rate of each step.
    #[arg(long)]
    sampling_rate: f64,
    /// Number of steps.
    #[arg(long)]
    steps: u64,
    /// Delta.
    #[arg(long)]
    delta: f64,
    /// Noise multiplier: prints the epsilon it spends.
    #[arg(long, conflicts_with = "epsilon", required_unless_present = "epsilon")]
    noise_multiplier: Option<f64>,
    /// Target epsilon: prints the smallest noise multiplier that meets it.
    #[arg(long)]
    epsilon: Option<f64>,
}

fn init_logging(format: LogFormat) {
    let filter = tracing_subscriber::EnvFilter::try_from_default_env()
        .unwrap_or_else(|_| tracing_subscriber::EnvFilter::new("info"));
    let builder = tracing_subscriber::fmt()
        .with_env_filter(filter)
        .with_writer(std::io::stderr);
    match format {
        LogFormat::Text => builder.init(),
        LogFormat::Json => builder.json().flatten_event(true).init(),
    }
}

fn report_error(error: &Error) -> ExitCode {
    let mut message = format!("error: {error}");
    let mut last = error.to_string();
    let mut source = std::error::Error::source(error);
    while let Some(cause) = source {
        // Some causes (DataFusion's) repeat their own source's text; print each text once.
        let text = cause.to_string();
        if !last.contains(&text) {
            message.push_str(&format!("\n  caused by: {text}"));
        }
        last = text;
        source = cause.source();
    }
    eprintln!("{message}");
    ExitCode::from(error.exit_code() as u8)
}

async fn execute(cli: Cli) -> Result<ExitCode, Error> {
    match cli.command {
        Command::Check { pipeline } => {
            let pipeline = config::load(&pipeline.pipeline, &pipeline.overrides)?;
            let plan = plan::make_plan(pipeline).await?;
            println!("{plan}");
            Ok(ExitCode::SUCCESS)
        }
        Command::Budget(args) => {
            let line = match (args.noise_multiplier, args.epsilon) {
                (Some(noise), _) => {
                    let epsilon =
                        privacy::dp_sgd_epsilon(args.sampling_rate, noise, args.steps, args.delta)?;
                    format!("{epsilon}")
                }
                (None, Some(epsilon)) => {
                    let noise = privacy::calibrate_noise_multiplier(
                        args.sampling_rate,
                        args.steps,
                        epsilon,
                        args.delta,
                    )?;
                    format!("{noise}")
                }
                (None, None) => {
                    return Err(Error::Internal("clap requires one of the two".to_owned()));
                }
            };
            println!("{line}");
            Ok(ExitCode::SUCCESS)
        }
        Command::Run { pipeline, run_id } => {
            let pipeline = config::load(&pipeline.pipeline, &pipeline.overrides)?;
            let plan = plan::make_plan(pipeline).await?;
            let outcome = run::run(plan, run_id).await?;
            if matches!(cli.log_format, LogFormat::Json) {
                println!(
                    "{}",
                    serde_json::to_string(&outcome).map_err(|e| Error::Internal(e.to_string()))?
                );
            }
            if outcome.released {
                Ok(ExitCode::SUCCESS)
            } else {
                eprintln!(
                    "refused: the gate failed {}; nothing was published; see {}",
                    outcome.failed_checks.join(", "),
                    outcome.staging.join("report.json").display()
                );
                Ok(ExitCode::from(3))
            }
        }
    }
}

fn main() -> ExitCode {
    let cli = Cli::parse();
    init_logging(cli.log_format);
    let runtime = match tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
    {
        Ok(runtime) => runtime,
        Err(error) => {
            eprintln!("error: cannot start the async runtime: {error}");
            return ExitCode::from(1);
        }
    };
    match runtime.block_on(execute(cli)) {
        Ok(code) => code,
        Err(error) => report_error(&error),
    }
}
