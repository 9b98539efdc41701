import { connect, type Socket } from 'node:net'

// Opens N connections to a proxy, each sending one Ping-like POST that the origin holds; then keeps
// them open until stdin closes. Prints "ready" once every request was written.
const [port = '0', count = '5000'] = process.argv.slice(2)
const sockets: Socket[] = []
let written = 0
for (let i = 0; i < Number(count); i++) {
  const socket = connect(Number(port), '127.0.0.1', () => {
    socket.write(`POST /Microsoft-Server-ActiveSync?Cmd=Ping&User=u${i}&DeviceId=D${i}&DeviceType=iPhone HTTP/1.1\r\nHost: mail.example.com\r\nAuthorization: Basic YTpi\r\nContent-Type: application/vnd.ms-sync.wbxml\r\nContent-Length: 0\r\n\r\n`)
    if (++written === Number(count)) process.stdout.write('ready\n')
  })
  socket.on('error', () => {})
  sockets.push(socket)
  if (i % 200 === 199) await new Promise(resolve => setTimeout(resolve, 20))
}
process.stdin.resume()
process.stdin.on('end', () => { for (const s of sockets) s.destroy(); process.exit(0) })
