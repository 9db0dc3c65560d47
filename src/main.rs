//! The `synthgate` command: arguments, logging, and errors mapped to exit codes.

use std::path::PathBuf;
use std::process::ExitCode;

use clap::{Args, Parser, Subcommand, ValueEnum};
use synthgate::{Error, budget, config, evaluate, plan, privacy, run};
use tracing::Instrument;

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
    /// More log detail: -v adds synthgate's debug lines, -vv every library's. RUST_LOG, when
    /// set, decides instead.
    #[arg(short, long, action = clap::ArgAction::Count, global = true)]
    verbose: u8,
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
        #[arg(long, conflicts_with = "resume")]
        run_id: Option<String>,
        /// Continue the run RUN_ID from its last checkpoint, with the same pipeline and --set
        /// overrides; the steps it took before are not charged again.
        #[arg(long, value_name = "RUN_ID")]
        resume: Option<String>,
    },
    /// Validate the pipeline and print its plan; reads no row.
    Check {
        #[command(flatten)]
        pipeline: PipelineArgs,
    },
    /// Privacy planner: epsilon for a noise multiplier, or the noise multiplier for an epsilon.
    Budget(BudgetArgs),
    /// Rebuild the internal HTML report of a staged run from its report.json.
    Report {
        /// The run's staging folder (holding report.json).
        run_dir: PathBuf,
        /// Where to write the page (default: RUN_DIR/report.html).
        #[arg(long)]
        out: Option<PathBuf>,
    },
    /// Run the pipeline's checks and attacks on any synthetic table; exit 0 pass, 3 refused.
    Evaluate {
        #[command(flatten)]
        pipeline: PipelineArgs,
        /// The synthetic table: a Parquet file or folder.
        #[arg(long)]
        synthetic: String,
        /// Train rows (default: the pipeline's split of its source); needs --holdout.
        #[arg(long, requires = "holdout")]
        train: Option<String>,
        /// Holdout rows, never trained on; needs --train.
        #[arg(long, requires = "train")]
        holdout: Option<String>,
    },
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
    /// Accountant.
    #[arg(long, value_enum, default_value_t = AccountantArg::Pld)]
    accountant: AccountantArg,
    /// Poisson sampling rate of each step (or give --batch-size and --rows).
    #[arg(
        long,
        required_unless_present = "batch_size",
        conflicts_with_all = ["batch_size", "rows"]
    )]
    sampling_rate: Option<f64>,
    /// Expected batch size in rows; the sampling rate is batch size / rows.
    #[arg(long, requires = "rows")]
    batch_size: Option<u64>,
    /// Rows that train (the source's rows less the holdout).
    #[arg(long, requires = "batch_size")]
    rows: Option<u64>,
    /// Number of DP-SGD steps (or give --epochs).
    #[arg(long, conflicts_with = "epochs")]
    steps: Option<u64>,
    /// Expected passes over the rows; steps = ceil(epochs / sampling rate).
    #[arg(long)]
    epochs: Option<f64>,
    /// Delta.
    #[arg(long)]
    delta: f64,
    /// Noise multiplier: prints the epsilon it spends.
    #[arg(long, conflicts_with = "epsilon", required_unless_present = "epsilon")]
    noise_multiplier: Option<f64>,
    /// Target epsilon: prints the smallest noise multiplier that meets it.
    #[arg(long)]
    epsilon: Option<f64>,
    /// `line`: the answer alone; `table`: epsilon and noise across a range of epochs.
    #[arg(long, value_enum, default_value_t = BudgetFormat::Line)]
    format: BudgetFormat,
}

#[derive(Clone, Copy, ValueEnum)]
enum AccountantArg {
    Pld,
    Rdp,
}

impl From<AccountantArg> for privacy::Accountant {
    fn from(value: AccountantArg) -> Self {
        match value {
            AccountantArg::Pld => privacy::Accountant::Pld,
            AccountantArg::Rdp => privacy::Accountant::Rdp,
        }
    }
}

#[derive(Clone, Copy, ValueEnum)]
enum BudgetFormat {
    Line,
    Table,
}

fn budget(args: BudgetArgs) -> Result<String, budget::BudgetError> {
    let accountant = args.accountant.into();
    let sampling_rate = match (args.sampling_rate, args.batch_size, args.rows) {
        (Some(rate), _, _) => rate,
        (None, Some(batch_size), Some(rows)) => budget::sampling_rate_for_batch(batch_size, rows)?,
        _ => {
            return Err(budget::BudgetError::Incomplete(
                "give --sampling-rate, or --batch-size and --rows".to_owned(),
            ));
        }
    };
    let target = match (args.noise_multiplier, args.epsilon) {
        (Some(noise), _) => budget::Target::NoiseMultiplier(noise),
        (None, Some(epsilon)) => budget::Target::Epsilon(epsilon),
        (None, None) => {
            return Err(budget::BudgetError::Incomplete(
                "give --noise-multiplier or --epsilon".to_owned(),
            ));
        }
    };
    if let BudgetFormat::Table = args.format {
        let mut epochs = budget::TABLE_EPOCHS.to_vec();
        epochs.extend(args.epochs);
        let mut lengths = budget::plan_lengths(&epochs, sampling_rate);
        lengths.extend(
            args.steps
                .map(|steps| (steps as f64 * sampling_rate, steps)),
        );
        let table = budget::plan_table(accountant, sampling_rate, args.delta, target, &lengths)?;
        return Ok(table.to_string().trim_end().to_owned());
    }
    let steps = match (args.steps, args.epochs) {
        (Some(steps), _) => steps,
        (None, Some(epochs)) => budget::steps_for_epochs(epochs, sampling_rate),
        (None, None) => {
            return Err(budget::BudgetError::Incomplete(
                "give --steps or --epochs (or --format table)".to_owned(),
            ));
        }
    };
    let row = budget::plan_row(accountant, sampling_rate, steps, args.delta, target)?;
    Ok(match target {
        budget::Target::NoiseMultiplier(_) => format!("{}", row.epsilon),
        budget::Target::Epsilon(_) => format!("{}", row.noise_multiplier),
    })
}

fn init_logging(format: LogFormat, verbose: u8) {
    let default = match verbose {
        0 => "info",
        1 => "info,synthgate=debug",
        _ => "debug",
    };
    let filter = tracing_subscriber::EnvFilter::try_from_default_env()
        .unwrap_or_else(|_| tracing_subscriber::EnvFilter::new(default));
    let builder = tracing_subscriber::fmt()
        .with_env_filter(filter)
        .with_writer(std::io::stderr);
    match format {
        LogFormat::Text => builder.init(),
        LogFormat::Json => builder.json().flatten_event(true).init(),
    }
}

/// The error and its causes, one per line, with any credential value blanked.
fn error_text(error: &Error) -> String {
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
    synthgate::storage::remote::redact_credentials(&message)
}

fn report_error(error: &Error, format: LogFormat) -> ExitCode {
    let message = error_text(error);
    let exit_code = error.exit_code();
    match format {
        LogFormat::Text => eprintln!("{message}"),
        // one JSON object like every other line, carrying the run id through the run's span
        LogFormat::Json => tracing::error!(exit_code, "{message}"),
    }
    ExitCode::from(exit_code as u8)
}

async fn execute(cli: Cli) -> Result<ExitCode, Error> {
    match cli.command {
        Command::Check { pipeline } => {
            let pipeline = config::load(&pipeline.pipeline, &pipeline.overrides)?;
            let plan = plan::make_plan(pipeline).await?;
            println!("{plan}");
            Ok(ExitCode::SUCCESS)
        }
        Command::Report { run_dir, out } => {
            let path = synthgate::report::rebuild(&run_dir, out.as_deref())?;
            println!("{}", path.display());
            Ok(ExitCode::SUCCESS)
        }
        Command::Budget(args) => {
            println!("{}", budget(args)?);
            Ok(ExitCode::SUCCESS)
        }
        Command::Evaluate {
            pipeline,
            synthetic,
            train,
            holdout,
        } => {
            let cwd = std::env::current_dir().map_err(|e| Error::Internal(e.to_string()))?;
            let pipeline = config::load(&pipeline.pipeline, &pipeline.overrides)?;
            let plan = plan::make_plan(pipeline).await?;
            let real =
                evaluate::real_tables(&plan, train.as_deref(), holdout.as_deref(), &cwd).await?;
            let synthetic = evaluate::read_table(&synthetic, &cwd).await?;
            let columns = plan.schema.learned_columns();
            let verdict = evaluate::gate(
                &plan.pipeline,
                &real.train,
                &real.holdout,
                &synthetic,
                &columns,
            )
            .await?;
            print!("{}", verdict.describe());
            if matches!(cli.log_format, LogFormat::Json) {
                println!(
                    "{}",
                    serde_json::to_string(&verdict.summary())
                        .map_err(|e| Error::Internal(e.to_string()))?
                );
            }
            Ok(if verdict.passed {
                ExitCode::SUCCESS
            } else {
                ExitCode::from(3)
            })
        }
        Command::Run {
            pipeline,
            run_id,
            resume,
        } => {
            let pipeline = config::load(&pipeline.pipeline, &pipeline.overrides)?;
            let plan = plan::make_plan(pipeline).await?;
            let (run_id, start) = match resume {
                Some(id) => (Some(id), run::Start::Resume),
                None => (run_id, run::Start::Fresh),
            };
            let outcome = run::run(plan, run_id, start).await?;
            if matches!(cli.log_format, LogFormat::Json) {
                println!(
                    "{}",
                    serde_json::to_string(&outcome).map_err(|e| Error::Internal(e.to_string()))?
                );
            }
            if outcome.released {
                Ok(ExitCode::SUCCESS)
            } else {
                let message = format!(
                    "refused: the gate failed {}; nothing was published; see {}",
                    outcome.failed_checks.join(", "),
                    outcome.report.display()
                );
                match cli.log_format {
                    LogFormat::Text => eprintln!("{message}"),
                    LogFormat::Json => tracing::warn!(exit_code = 3, "{message}"),
                }
                Ok(ExitCode::from(3))
            }
        }
    }
}

fn main() -> ExitCode {
    synthgate::sample::limit_malloc_arenas();
    let mut cli = Cli::parse();
    init_logging(cli.log_format, cli.verbose);
    // A run's id is settled first, so that every line it logs, from loading the pipeline to
    // its last error, carries it (the span's field; in JSON under "span").
    let span = match &mut cli.command {
        Command::Run {
            resume: Some(id), ..
        } => tracing::info_span!("run", run_id = %id),
        Command::Run { run_id, .. } => {
            let id = run_id.get_or_insert_with(run::new_run_id).clone();
            tracing::info_span!("run", run_id = %id)
        }
        _ => tracing::Span::none(),
    };
    let format = cli.log_format;
    synthgate::progress::enable_bars(
        matches!(format, LogFormat::Text) && std::io::IsTerminal::is_terminal(&std::io::stderr()),
    );
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
    runtime.spawn(synthgate::interrupt::listen().instrument(span.clone()));
    let outcome = runtime.block_on(execute(cli).instrument(span.clone()));
    let _entered = span.enter();
    match outcome {
        Ok(code) => code,
        Err(error) => report_error(&error, format),
    }
}
