using System.Globalization;

namespace UnifiedLlm.Bench;

/// <summary>
/// nginx as the yardstick: a plain reverse proxy to the stub upstream (HTTP/1.1 keep-alive upstream connections, no
/// response buffering), from a config generated in the bench's temp directory — no system service. Without an access
/// log, the strictest yardstick; with nginx's default one (a line per request, written as it ends), one that records
/// each request as ullmd's audit log does.
/// </summary>
internal static class NginxProxy
{
    public static PeerProcess Start(string nginx, DirectoryInfo work, int listenPort, int upstreamPort, bool accessLog)
    {
        var prefix = Directory.CreateDirectory(Path.Combine(work.FullName, accessLog ? "nginx-logged" : "nginx")).FullName;
        var log = accessLog ? $"access_log {prefix}/access.log;" : "access_log off;";
        var config = Path.Combine(prefix, "nginx.conf");
        File.WriteAllText(config, string.Create(CultureInfo.InvariantCulture, $$"""
            daemon off;
            master_process on;
            worker_processes auto;
            pid {{prefix}}/nginx.pid;
            error_log stderr warn;
            events { worker_connections 4096; }
            http {
                {{log}}
                client_body_temp_path {{prefix}}/client_body;
                proxy_temp_path {{prefix}}/proxy;
                fastcgi_temp_path {{prefix}}/fastcgi;
                uwsgi_temp_path {{prefix}}/uwsgi;
                scgi_temp_path {{prefix}}/scgi;
                upstream stub {
                    server 127.0.0.1:{{upstreamPort}};
                    keepalive 512;
                }
                server {
                    listen 127.0.0.1:{{listenPort}};
                    location / {
                        proxy_pass http://stub;
                        proxy_http_version 1.1;
                        proxy_set_header Connection "";
                        proxy_buffering off;
                    }
                }
            }
            """));
        return PeerProcess.Start(nginx, ["-p", prefix, "-c", config, "-e", "stderr"]);
    }
}
