import { createServer } from 'node:http'

// Upstream for the held-Ping workload: holds every Ping forever, answers anything else at once.
// GET /held on the control port reports how many Pings it holds.
const [port = '0', controlPort = '0'] = process.argv.slice(2)
let held = 0
createServer({ keepAliveTimeout: 600_000, requestTimeout: 0, headersTimeout: 0 }, (req, res) => {
  if (req.url?.includes('Cmd=Ping')) {
    held++
    req.resume()
    res.on('close', () => { held-- })
    return
  }
  req.resume()
  req.on('end', () => { res.writeHead(200, { 'content-length': 18 }); res.end('portcullis-bench-o') })
}).listen(Number(port), '127.0.0.1')
createServer((_req, res) => res.end(String(held))).listen(Number(controlPort), '127.0.0.1')
