//! `probe URL`: the container health check in images without curl.

use std::process::ExitCode;

use anyhow::Context as _;

/// A plain HTTP/1.0 GET with a 5 s limit; 2xx is healthy.
pub async fn run(url: String) -> anyhow::Result<ExitCode> {
    use tokio::io::{AsyncReadExt as _, AsyncWriteExt as _};
    let rest = url
        .strip_prefix("http://")
        .with_context(|| format!("{url}: only http:// URLs"))?;
    let (authority, path) = rest
        .split_once('/')
        .map_or((rest, "/".to_owned()), |(a, p)| (a, format!("/{p}")));
    let answer = tokio::time::timeout(std::time::Duration::from_secs(5), async {
        let mut stream = tokio::net::TcpStream::connect(authority).await?;
        stream
            .write_all(format!("GET {path} HTTP/1.0\r\nHost: {authority}\r\n\r\n").as_bytes())
            .await?;
        let mut response = String::new();
        stream.read_to_string(&mut response).await?;
        Ok::<_, std::io::Error>(response)
    })
    .await;
    let healthy = matches!(&answer, Ok(Ok(response)) if response.split_whitespace().nth(1).is_some_and(|code| code.starts_with('2')));
    if !healthy {
        eprintln!("unhealthy: {url}");
    }
    Ok(if healthy {
        ExitCode::SUCCESS
    } else {
        ExitCode::FAILURE
    })
}
