package blip

import (
	"fmt"
	"time"

	"github.com/gorilla/websocket"
)

// The heartbeat goroutine (heartbeatLoop, started by Start when HeartbeatInterval > 0)
// only reads lastRecv and readerPaused, sends pings with ws.WriteControl and aborts the
// connection when the peer stays silent; it stops on ctx.

// heartbeatLoop pings after HeartbeatInterval of silence and declares the peer dead if it
// stays silent PongTimeout after the ping.
func (c *Conn) heartbeatLoop() {
	defer c.ioWG.Done()
	interval, wait := c.cfg.HeartbeatInterval, c.cfg.PongTimeout
	timer := time.NewTimer(interval)
	defer timer.Stop()
	var pingAt int64
	waiting := false
	for {
		select {
		case <-c.ctx.Done():
			return
		case <-timer.C:
		}
		now := time.Now()
		last := c.lastRecv.Load()
		if c.readerPaused.Load() {
			// Not reading on purpose (back-pressure): pongs cannot be seen, and that is fine.
			waiting = false
			timer.Reset(interval)
			continue
		}
		if waiting {
			if last > pingAt {
				waiting = false
			} else if elapsed := now.Sub(time.Unix(0, pingAt)); elapsed >= wait {
				c.abort(&CloseError{Code: CloseAbnormal, Reason: "peer stopped responding",
					Err: fmt.Errorf("%w: no answer to ping within %v", ErrTimeout, wait)})
				return
			} else {
				timer.Reset(wait - elapsed)
				continue
			}
		}
		idle := now.Sub(time.Unix(0, last))
		if idle < interval {
			timer.Reset(interval - idle)
			continue
		}
		pingAt = now.UnixNano()
		waiting = true
		if err := c.ws.WriteControl(websocket.PingMessage, nil, now.Add(wait)); err != nil {
			c.log.Debug("blip: ping failed", "err", err)
		}
		timer.Reset(wait)
	}
}
