package dlq

import (
	"errors"
	"flag"
	"fmt"
	"io"
	"math"
	"strconv"
	"time"

	"github.com/boxoffice/boxoffice/config"
)

// Groups are the configuration flags every dlq action takes: --topic picks
// the topic whose dead-letter topic (<topic>.DLQ) is read and replayed to.
const Groups = config.Redis | config.Kafka | config.MySQL

// Actions of boxoffice dlq.
const (
	List   = "list"
	Show   = "show"
	Replay = "replay"
)

// DefaultTimeout bounds a whole dlq command.
const DefaultTimeout = 30 * time.Second

// Command is one parsed boxoffice dlq command line.
type Command struct {
	Action    string
	Config    config.Config
	Limit     int    // list: most messages printed, 0 = all
	Partition int32  // show, replay
	Offset    int64  // show, replay
	ValueFile string // replay: the operator's fixed value instead of the message's
	Timeout   time.Duration
}

// Usage is the help of boxoffice dlq.
const Usage = `usage: boxoffice dlq <action> [flags]

Look at the dead-letter topic (<topic>.DLQ, --topic picks the topic) and put
messages back once they are fixed.

actions:
  list    [--limit N]
          one line per message: partition/offset, key, source, reason, value
  show    --partition P --offset O
          every header and the full value of one message
  replay  --partition P --offset O [--value-file FILE]
          put the message (or FILE, the fixed event) back on the topic; it
          must decode. A requested event takes its seat in Redis first, as
          the gateway does, and is refused when the seat is not available;
          running the same replay twice creates the reservation once.

boxoffice dlq <action> -h lists the flags (those of Redis, Kafka and MySQL
as for the other commands, BOX_* variables included).
`

// Parse reads a boxoffice dlq command line (args after "dlq"); getenv is
// os.Getenv outside tests. Help and usage errors are printed to out.
func Parse(args []string, getenv func(string) string, out io.Writer) (Command, error) {
	c := Command{Config: config.Default(), Timeout: DefaultTimeout, Limit: 100}
	if len(args) > 0 {
		c.Action = args[0]
	}
	if err := checkAction(args, out); err != nil {
		return c, err
	}
	fs := c.flagSet(out)
	if err := fs.Parse(args[1:]); err != nil {
		return c, err
	}
	if fs.NArg() > 0 {
		return c, fmt.Errorf("dlq %s: unexpected arguments: %q", c.Action, fs.Args())
	}
	if err := config.ApplyEnv(fs, getenv); err != nil {
		return c, err
	}
	if err := c.Config.Validate(); err != nil {
		return c, err
	}
	given := map[string]bool{}
	fs.Visit(func(f *flag.Flag) { given[f.Name] = true })
	return c, c.check(given)
}

// checkAction accepts a known action as the first argument; otherwise, and
// for help, it prints the usage to out.
func checkAction(args []string, out io.Writer) error {
	if len(args) == 0 {
		fmt.Fprint(out, Usage)
		return errors.New("dlq: missing action: list, show or replay")
	}
	switch args[0] {
	case "-h", "-help", "--help", "help":
		fmt.Fprint(out, Usage)
		return flag.ErrHelp
	case List, Show, Replay:
		return nil
	default:
		fmt.Fprint(out, Usage)
		return fmt.Errorf("dlq: unknown action %q: list, show or replay", args[0])
	}
}

// flagSet is the flags of c's action, parsed into c.
func (c *Command) flagSet(out io.Writer) *flag.FlagSet {
	fs := flag.NewFlagSet("boxoffice dlq "+c.Action, flag.ContinueOnError)
	fs.SetOutput(out)
	config.Register(fs, &c.Config, Groups)
	fs.DurationVar(&c.Timeout, "timeout", c.Timeout, "bound on the whole command (connecting, reading, replaying)")
	switch c.Action {
	case List:
		fs.IntVar(&c.Limit, "limit", c.Limit, "print at most this many messages, the oldest of each partition first; 0 prints all")
	case Show, Replay:
		// Func flags: no misleading default in -h, and "given" is exact.
		fs.Func("partition", "partition of the DLQ message (required; see dlq list)", func(s string) error {
			v, err := strconv.ParseInt(s, 10, 32)
			if err != nil || v < 0 {
				return fmt.Errorf("want a partition number 0..%d", math.MaxInt32)
			}
			c.Partition = int32(v)
			return nil
		})
		fs.Func("offset", "offset of the DLQ message (required; see dlq list)", func(s string) error {
			v, err := strconv.ParseInt(s, 10, 64)
			if err != nil || v < 0 {
				return errors.New("want an offset, a number from 0")
			}
			c.Offset = v
			return nil
		})
	}
	if c.Action == Replay {
		fs.StringVar(&c.ValueFile, "value-file", "", "replay the contents of this file (the fixed event) instead of the message's value")
	}
	return fs
}

// check reports every problem of a parsed command at once; given holds the
// flags set on the command line.
func (c *Command) check(given map[string]bool) error {
	var errs []error
	if c.Timeout <= 0 {
		errs = append(errs, fmt.Errorf("--timeout must be positive, got %s", c.Timeout))
	}
	if c.Limit < 0 {
		errs = append(errs, fmt.Errorf("--limit must not be negative, got %d", c.Limit))
	}
	if c.Action == Show || c.Action == Replay {
		for _, f := range []string{"partition", "offset"} {
			if !given[f] {
				errs = append(errs, fmt.Errorf("--%s is required (boxoffice dlq list shows partition/offset of each message)", f))
			}
		}
	}
	if given["value-file"] && c.ValueFile == "" {
		errs = append(errs, errors.New("--value-file must name a file"))
	}
	if err := errors.Join(errs...); err != nil {
		return fmt.Errorf("dlq %s: %w", c.Action, err)
	}
	return nil
}
