//! The `pretext` binary.

use clap::Parser;

// Training allocates and frees large activation buffers every step; glibc's malloc hands
// them back to the kernel each time (mmap/munmap), and the page faults that follow cost
// about a third of a CPU step. mimalloc, told to keep freed memory
// (`pretext::allocator::keep_freed_memory`), reuses them.
#[global_allocator]
static ALLOCATOR: mimalloc::MiMalloc = mimalloc::MiMalloc;

fn main() -> std::process::ExitCode {
    pretext::allocator::keep_freed_memory();
    // Rust ignores SIGPIPE, so a closed pipe (`pretext … | head`) makes the next print panic;
    // the default action ends the process quietly, as other command-line tools do.
    #[cfg(unix)]
    // SAFETY: called before any other thread exists; SIG_DFL is a valid disposition.
    unsafe {
        libc::signal(libc::SIGPIPE, libc::SIG_DFL);
    }
    // Past a file-size limit (`ulimit -f`, a cluster's quota) the default action of SIGXFSZ
    // kills the process mid-write; ignored, the write fails and the run stops with an error
    // naming the file, its last checkpoint intact.
    #[cfg(unix)]
    // SAFETY: as above; SIG_IGN is a valid disposition.
    unsafe {
        libc::signal(libc::SIGXFSZ, libc::SIG_IGN);
    }
    tracing_subscriber::fmt()
        .with_writer(std::io::stderr)
        .with_ansi(std::io::IsTerminal::is_terminal(&std::io::stderr()))
        .with_env_filter(
            tracing_subscriber::EnvFilter::try_from_default_env()
                .unwrap_or_else(|_| tracing_subscriber::EnvFilter::new("info")),
        )
        .init();
    let cli = pretext::cli::Cli::parse();
    // Joins the other ranks when an MPI launcher started this process; held to the end, when
    // MPI shuts down.
    let _session = match pretext::distributed::init() {
        Ok(session) => session,
        Err(err) => {
            eprintln!("error: {err:#}");
            return std::process::ExitCode::FAILURE;
        }
    };
    match pretext::cli::run(cli) {
        Ok(()) => std::process::ExitCode::SUCCESS,
        Err(err) => {
            let ranks = pretext::distributed::ranks();
            match ranks.size {
                1 => eprintln!("error: {err:#}"),
                n => eprintln!("error (rank {} of {n}): {err:#}", ranks.rank),
            }
            // The other ranks would wait for this one in their next all-reduce.
            pretext::distributed::abort_others(1);
            std::process::ExitCode::FAILURE
        }
    }
}
