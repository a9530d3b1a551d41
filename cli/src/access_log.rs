//! `--access-log PATH` and its options: the server's access log (W3C or NCSA), reopened on SIGHUP.

use std::path::PathBuf;

use hsys::{AccessLog, LogField, LogFormat, Roll, Server, Snapshot};

/// The access-log options.
#[derive(clap::Args, Debug)]
pub struct AccessLogArgs {
    /// Write an access log of every request answered to PATH: a file, or a directory (an
    /// existing one, or a path ending in `/`) of files named as IIS names them
    /// (`u_exYYMMDD.log`). SIGHUP reopens it (after logrotate renamed it).
    #[arg(long, value_name = "PATH", help_heading = "Access log")]
    pub access_log: Option<PathBuf>,
    /// Line format: w3c (W3C extended, as http.sys and IIS write it) or ncsa (combined).
    #[arg(long, value_name = "FORMAT", value_parser = parse_format, requires = "access_log", help_heading = "Access log")]
    pub access_log_format: Option<LogFormat>,
    /// W3C fields, in order, comma-separated; default, all of them:
    /// date,time,s-ip,cs-method,cs-uri-stem,cs-uri-query,s-port,c-ip,cs-version,cs(User-Agent),cs(Referer),cs-host,sc-status,sc-bytes,cs-bytes,time-taken
    #[arg(long, value_name = "LIST", value_parser = parse_fields, requires = "access_log", help_heading = "Access log")]
    pub access_log_fields: Option<Fields>,
    /// When a new file begins: size:BYTES, hourly or daily (UTC); the period goes into its name
    /// (`access_261205.log`, `access_1.log`; in a directory `u_ex261205.log`, `u_extend1.log`).
    #[arg(long, value_name = "WHEN", value_parser = Roll::parse, requires = "access_log", help_heading = "Access log")]
    pub access_log_roll: Option<Roll>,
}

/// A list of W3C fields (one value, not one per field).
#[derive(Clone, Debug)]
pub struct Fields(Vec<LogField>);

fn parse_fields(s: &str) -> Result<Fields, String> {
    LogField::parse_list(s).map(Fields)
}

fn parse_format(s: &str) -> Result<LogFormat, String> {
    match s.to_ascii_lowercase().as_str() {
        "w3c" => Ok(LogFormat::W3c),
        "ncsa" => Ok(LogFormat::Ncsa),
        _ => Err(format!("{s:?}: expected w3c or ncsa")),
    }
}

impl AccessLogArgs {
    /// The log the options describe (`None`: no `--access-log`).
    ///
    /// # Errors
    /// Fields given for the NCSA format (its fields are fixed).
    pub fn log(&self) -> Result<Option<AccessLog>, String> {
        let Some(path) = &self.access_log else { return Ok(None) };
        let format = self.access_log_format.unwrap_or_default();
        let mut log = AccessLog::new(path).format(format).roll(self.access_log_roll.unwrap_or_default());
        if let Some(Fields(fields)) = &self.access_log_fields {
            if format == LogFormat::Ncsa {
                return Err("--access-log-fields: the ncsa format has fixed fields".into());
            }
            log = log.fields(fields);
        }
        Ok(Some(log))
    }

    /// SIGHUP: reopens the log, if there is one (`false`: none).
    pub fn reopen(&self, server: &Server) -> bool {
        let Some(path) = &self.access_log else { return false };
        server.reopen_access_logs();
        println!("SIGHUP: access log {} reopened", path.display());
        true
    }
}

/// At the stop: says how many lines were lost, if any.
pub fn report(s: &Snapshot) {
    if s.access_log_dropped > 0 {
        eprintln!("hsys: {} access-log lines dropped (the log writer fell behind)", s.access_log_dropped);
    }
}
