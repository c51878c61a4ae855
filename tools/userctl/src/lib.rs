//! `userctl`: the developer CLI. It reads the same environment as the functions (TABLE_NAME,
//! DYNAMODB_ENDPOINT, AWS_REGION, JWT_SECRET or JWT_PUBLIC_KEY [+ JWT_PRIVATE_KEY to sign]).
//! A library with a one-line binary, so the end-to-end tests can build the same CLI beside them.

mod audit;
mod seed;
mod serve;

use std::process::ExitCode;

use clap::{Parser, Subcommand};
use shared::config::Config;
use shared::store::Store;
use shared::values::{Email, UserId};

#[derive(Parser)]
#[command(
    name = "userctl",
    version,
    about = "Developer tool for the userprofile-lambdas user directory"
)]
struct Cli {
    #[command(subcommand)]
    command: Command,
}

#[derive(Subcommand)]
enum Command {
    /// Create the user table and the audit table exactly as template.yaml defines them.
    CreateTable,
    /// Load a JSON array of users (passwords are hashed on load); all or nothing.
    Seed { file: std::path::PathBuf },
    /// Print a signed JWT for a user, with the roles the store holds for it.
    Token {
        #[arg(long)]
        user: i64,
        #[arg(long, default_value_t = 3600)]
        ttl: i64,
    },
    /// Issue a 2FA code for a user's change of email to ADDRESS and print it.
    Code {
        #[arg(long)]
        user: i64,
        #[arg(long)]
        email: String,
    },
    /// Print the routes `serve` answers, one `METHOD /path` a line.
    Routes,
    /// Serve every function on 127.0.0.1 at its template.yaml routes, in-process, and feed the
    /// users table's stream to the audit log as Lambda would.
    Serve {
        #[arg(long, default_value_t = 3000)]
        port: u16,
    },
    /// A user's audit trail, newest first: who changed what, when, through which API.
    Audit {
        #[arg(long)]
        user: i64,
        /// One JSON array instead of a table.
        #[arg(long)]
        json: bool,
    },
}

/// The whole CLI: parses the arguments, runs the command, and says what went wrong on stderr.
#[tokio::main]
pub async fn main() -> ExitCode {
    let cli = Cli::parse();
    match run(cli.command).await {
        Ok(()) => ExitCode::SUCCESS,
        Err(message) => {
            eprintln!("userctl: {message}");
            ExitCode::FAILURE
        }
    }
}

async fn run(command: Command) -> Result<(), String> {
    if let Command::Routes = command {
        for route in serve::route_keys() {
            println!("{route}");
        }
        return Ok(());
    }
    if let Command::Audit { user, json } = command {
        let id = UserId::new(user).map_err(|e| e.to_string())?;
        return audit::show_from_env(id, json).await;
    }
    let config = Config::from_env().map_err(|e| format!("configuration: {e}"))?;
    match command {
        Command::CreateTable => create_table(&config).await,
        Command::Seed { file } => {
            let store = Store::connect(&config).await;
            let n = seed::seed_file(&store, &file).await?;
            println!("seeded {n} users into {}", config.table_name);
            Ok(())
        }
        Command::Token { user, ttl } => {
            let store = Store::connect(&config).await;
            let id = UserId::new(user).map_err(|e| e.to_string())?;
            let stored = store
                .get(id)
                .await
                .map_err(|e| e.to_string())?
                .ok_or_else(|| format!("no user with id {user}"))?;
            let private = std::env::var("JWT_PRIVATE_KEY")
                .ok()
                .map(|k| k.replace("\\n", "\n"));
            let signer = shared::auth::Signer::for_config(&config.jwt, private.as_deref())
                .map_err(|e| e.to_string())?;
            let roles: Vec<String> = stored.roles.iter().cloned().collect();
            println!("{}", signer.sign(id, &roles, ttl));
            Ok(())
        }
        Command::Code { user, email } => {
            let store = Store::connect(&config).await;
            let id = UserId::new(user).map_err(|e| e.to_string())?;
            let email = Email::parse(&email).map_err(|e| e.to_string())?;
            if store.get(id).await.map_err(|e| e.to_string())?.is_none() {
                return Err(format!("no user with id {user}"));
            }
            println!(
                "{}",
                store
                    .issue_code(id, &email)
                    .await
                    .map_err(|e| e.to_string())?
            );
            Ok(())
        }
        Command::Serve { port } => serve::serve(&config, port).await,
        Command::Routes | Command::Audit { .. } => Ok(()),
    }
}

async fn create_table(config: &Config) -> Result<(), String> {
    use shared::table::TableDef;
    let client = shared::store::dynamodb_client(&config.dynamodb()).await;
    let tables = [
        (
            config.table_name.clone(),
            TableDef::from_committed_template(),
        ),
        (
            audit::table_name(config),
            TableDef::audit_from_committed_template(),
        ),
    ];
    for (name, def) in tables {
        let exists = client
            .describe_table()
            .table_name(&name)
            .send()
            .await
            .is_ok();
        if exists {
            println!("table {name} already exists");
            continue;
        }
        def.map_err(|e| e.to_string())?
            .create(&client, &name)
            .await
            .map_err(|e| e.to_string())?;
        println!("created table {name}");
    }
    Ok(())
}
