using System.Globalization;

namespace UnifiedLlm.Bench;

/// <summary>
/// nginx as the yardstick: a plain reverse proxy to the stub upstream (HTTP/1.1 keep-alive upstream connections, no
/// response buffering, no access log), from a config generated in the bench's temp directory — no system service.
/// </summary>
internal static class NginxProxy
{
    public static PeerProcess Start(string nginx, DirectoryInfo work, int listenPort, int upstreamPort)
    {
        var prefix = Directory.CreateDirectory(Path.Combine(work.FullName, "nginx")).FullName;
        var config = Path.Combine(prefix, "nginx.conf");
        File.WriteAllText(config, string.Create(CultureInfo.InvariantCulture, $$"""
            daemon off;
            master_process on;
            worker_processes auto;
            pid {{prefix}}/nginx.pid;
            error_log stderr warn;
            events { worker_connections 4096; }
            http {
                access_log off;
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
