//! `codexport completions <shell>` and `codexport man`: generated from the clap definition, so
//! they never fall behind the commands.

use clap::{Args, CommandFactory};

use crate::exit::Exit;

use super::{Cli, CmdResult};

#[derive(Debug, Args)]
pub(super) struct CompletionsArgs {
    /// Shell to generate for.
    ///
    /// Example: codexport completions bash > ~/.local/share/bash-completion/completions/codexport
    #[arg(value_enum)]
    shell: clap_complete::Shell,
}

pub(super) fn completions(args: CompletionsArgs) -> CmdResult {
    let mut cmd = Cli::command();
    clap_complete::generate(args.shell, &mut cmd, "codexport", &mut std::io::stdout());
    Ok(Exit::Ok)
}

/// Print the man page (roff) to stdout. Example: `codexport man > codexport.1`.
pub(super) fn man() -> CmdResult {
    clap_mangen::Man::new(Cli::command()).render(&mut std::io::stdout())?;
    Ok(Exit::Ok)
}
