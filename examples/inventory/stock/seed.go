package stock

import (
	"context"
	"fmt"
	"strings"
)

// family is a kind of part the seed makes many of.
type family struct {
	maker, desc, format string
	values              []string
	qty                 int
}

var families = []family{
	{"Yageo", "Resistor %s 1%% 0603", "RC0603FR-07%sL", []string{"10R", "47R", "100R", "220R", "330R", "1K", "2K2", "4K7", "10K", "22K", "47K", "100K", "1M"}, 5000},
	{"Murata", "Capacitor %s X7R 0603", "GRM188R71%s", []string{"H102KA01D", "H103KA01D", "H104KA93D", "E224KA88D", "C105KA12D"}, 4000},
	{"Samsung", "Capacitor %s X5R 0805", "CL21A%s", []string{"106KAYNNNE", "226MQQNNNE", "475KAQNNNE", "105KBFNNNE"}, 3000},
	{"Texas Instruments", "Voltage regulator %s", "%s", []string{"TLV1117-33IDCYR", "LM1117MPX-3.3", "TPS62160DSGR", "LP5907MFX-3.3", "TPS7A0233PDBVR"}, 400},
	{"STMicroelectronics", "Microcontroller %s", "%s", []string{"STM32F103C8T6", "STM32G031K8T6", "STM32L432KCU6", "STM32F411CEU6", "STM32H743VIT6"}, 120},
	{"Nexperia", "Small-signal %s", "%s", []string{"BC847B,215", "BC857B,215", "2N7002,215", "BAT54S,215", "PMEG3020EH,115", "1N4148W,115"}, 2500},
	{"Würth Elektronik", "Inductor %s", "7447789%s", []string{"002", "004", "010", "022", "047", "100"}, 800},
	{"Kingbright", "LED %s 0603", "APT1608%s", []string{"EC", "SGC", "QBC/D", "SYCK", "SURCK"}, 1500},
	{"Molex", "Connector %s", "%s", []string{"0532610271", "0532610371", "0532610471", "0532610571", "0532610671", "0022232021", "0022232031", "0022232041"}, 600},
	{"Littelfuse", "Fuse %s 1206", "0466%s", []string{".250NR", ".500NR", "001.NR", "002.NR", "003.NR"}, 900},
	{"Abracon", "Crystal %s", "ABM8-%s-B2-T", []string{"8.000MHZ", "12.000MHZ", "16.000MHZ", "24.000MHZ", "25.000MHZ"}, 700},
	{"Bourns", "TVS diode %s", "SMAJ%s", []string{"5.0A", "12A", "15A", "24A", "33CA"}, 1000},
}

// packagings are the distributors' suffixes of the same part in other
// packagings: tape and reel, cut tape, and so on.
var packagings = []string{"", "-TR", "-CT", "-DKR", "-ND", "-REEL", "-BULK"}

// SeedPart returns the i-th seed part; the same i always gives the same
// part, and i < SeedParts gives distinct part numbers.
func SeedPart(i int) Part {
	f := families[i%len(families)]
	round := i / len(families)
	v := f.values[round%len(f.values)]
	mpn := fmt.Sprintf(f.format, v)
	mpn += packagings[round/len(f.values)%len(packagings)]
	return Part{
		MPN:          mpn,
		Manufacturer: f.maker,
		Description:  fmt.Sprintf(f.desc, v),
		Quantity:     f.qty/2 + (i*7919)%f.qty,
		Location:     fmt.Sprintf("%c%d-%02d", 'A'+rune(i%8), 1+i/8%6, i%24+1),
	}
}

// SeedParts is how many parts Seed creates.
const SeedParts = 300

// seedBOMs are the assemblies Seed creates, by part numbers of seed parts.
var seedBOMs = []struct {
	name, desc string
	lines      []Line
	mpns       []string
}{
	{"PCB-1001 Motor driver", "Two-channel brushed motor driver", nil, []string{"STM32G031K8T6", "TLV1117-33IDCYR", "RC0603FR-0710KL", "GRM188R71H104KA93D", "2N7002,215", "SMAJ24A", "0532610271"}},
	{"PCB-1002 Sensor node", "Temperature and humidity sensor board", nil, []string{"STM32L432KCU6", "LP5907MFX-3.3", "RC0603FR-074K7L", "GRM188R71C105KA12D", "APT1608SGC", "ABM8-16.000MHZ-B2-T"}},
	{"PCB-1003 Power supply", "24 V to 3.3 V buck converter", nil, []string{"TPS62160DSGR", "7447789022", "CL21A226MQQNNNE", "PMEG3020EH,115", "0466002.NR", "SMAJ33CA"}},
	{"PCB-1004 Controller", "Main controller with USB", nil, []string{"STM32F411CEU6", "TPS7A0233PDBVR", "ABM8-25.000MHZ-B2-T", "RC0603FR-0722KL", "GRM188R71H103KA01D", "BC847B,215", "0022232041", "APT1608EC"}},
}

// Seed fills the inventory with SeedParts parts and a few BOMs, the first
// of them released. It is deterministic: the same records in the same
// order each time. On a replica it waits for ids until ctx ends.
func Seed(ctx context.Context, s *Store) error {
	for i := range SeedParts {
		if _, err := s.Parts.CreateWait(ctx, SeedPart(i)); err != nil {
			return fmt.Errorf("seed part %d: %w", i, err)
		}
	}
	for i, b := range seedBOMs {
		bom := BOM{Name: b.name, Description: b.desc}
		for j, mpn := range b.mpns {
			k, ok := s.Find(mpn)
			if !ok {
				return fmt.Errorf("seed bom %s: no part %s", b.name, mpn)
			}
			p, _, err := s.Parts.Get(k)
			if err != nil {
				return fmt.Errorf("seed bom %s: %w", b.name, err)
			}
			bom.Lines = append(bom.Lines, Line{Part: k, Quantity: 1 + (j*3)%4, Designators: designators(p.Description, j, 1+(j*3)%4)})
		}
		k, err := s.BOMs.CreateWait(ctx, bom)
		if err != nil {
			return fmt.Errorf("seed bom %s: %w", b.name, err)
		}
		if i == 0 {
			if err := ReleaseBOM(ctx, s, k); err != nil {
				return fmt.Errorf("seed bom %s: %w", b.name, err)
			}
		}
	}
	return nil
}

// designators names the n places of line j on the board, with the letter
// of the part's kind (R1, R2, C5, …).
func designators(desc string, j, n int) string {
	letter := "U"
	for prefix, l := range map[string]string{"Resistor": "R", "Capacitor": "C", "Inductor": "L", "LED": "D",
		"Connector": "J", "Fuse": "F", "Crystal": "Y", "TVS": "D", "Small-signal": "Q"} {
		if strings.HasPrefix(desc, prefix) {
			letter = l
		}
	}
	names := make([]string, n)
	for i := range names {
		names[i] = fmt.Sprintf("%s%d", letter, 10*j+i+1)
	}
	return strings.Join(names, ",")
}

// Syncer is what SeedIfEmpty needs of a sync client (netsync.Client).
type Syncer interface {
	WaitSynced(ctx context.Context) error
}

// SeedIfEmpty seeds the inventory s when it has no parts.
// With a sync client c (nil: standalone), it first waits until the replica
// caught up with the server, and afterwards until the server has every
// record. It returns how many parts it created.
func SeedIfEmpty(ctx context.Context, s *Store, c Syncer) (int, error) {
	if c != nil {
		if err := c.WaitSynced(ctx); err != nil {
			return 0, err
		}
	}
	if s.Parts.Len() > 0 {
		return 0, nil
	}
	if err := Seed(ctx, s); err != nil {
		return 0, err
	}
	if c != nil {
		if err := c.WaitSynced(ctx); err != nil {
			return 0, err
		}
	}
	return SeedParts, nil
}
