//! Rough timing of parse + one field lookup (run with `--release`).
//!
//! `cargo run --release -p hie-hl7 --example parse_bench`

use std::hint::black_box;
use std::time::Instant;

fn main() {
    let adt = concat!(
        "MSH|^~\\&|HNAM_PM|HNA500|AIG||20131017140041||ADT^A01|Q150084616T145947960|P|2.3\r",
        "EVN|A01|20131017140041\r",
        "PID|1|2148790^^^MSH_MRN^MR|2148790^^^MSH_MRN^MR~162840^^^MSH_EMPI^CM|3722^0^^MSH_DTC^REFE~184737^0^^IID^DONOR ~Q2147670^0^^MSQ_MRN|RUFUSS^MELLODIAL^^^^^CURRENT||19521129|F|RUFUSS^MELLODIAL^^^^^PREVIOUS|OT|221 CANVIEW AVENUE^66-D^BRONX^NY^10454^USA^HOME^^058||3472444150^HOME~(000)000-0000^ALTERNATE||ENGLISH|M|PEN|O75622322^^^MSH_FIN_NBR^FIN NB|125544697|||HIS|||0\r",
        "PV1|0001|I|MBN1^MBN1^06|4| 863968||03525^FARP^YONAN|03525^FARP^YONAN|\"\"|NUR|||N|5|| U|03525^FARP^YONAN|I|01|T22~SLF|||||||||||||||||||E||AC|||20140210225300|\"\"\r",
        "DG1|0001|I9|440.21^ATHEROSCLEROSIS W/INT CLAUDCTN^I9|ATHEROSCLEROSIS W/INT CLAUDCTN|\"\"|A|||||||.00||9\r",
        "IN1|0001|A10A|A10|HIP COMP MCAID|PO BOX 223^\"\"^NEW YORK^NY^10116^US^^^\"\"|HIP ON LINE|\"\"|\"\"|\"\"|||\"\"|\"\"|25892261^\"\"^\"\"|C|BENNETT^NELLY|4^SELF|10981226|322-10 GOODLIN AVE^APT B31^FLUSHING^NY^11355^US^^^61|Y|\"\"||||||Y||\"\"|||||||-JNJ45517\r",
    );
    let bytes = adt.as_bytes();
    let path: hie_hl7::Path = "PID-3(2).1".parse().unwrap();
    let n = 200_000;
    for _ in 0..1000 {
        black_box(hie_hl7::parse(black_box(bytes)).unwrap().get(&path));
    }
    let t = Instant::now();
    for _ in 0..n {
        let m = hie_hl7::parse(black_box(bytes)).unwrap();
        black_box(m.get(&path));
    }
    let per = t.elapsed() / n;
    println!("{} bytes: parse + PID-3(2).1 lookup: {per:?} per message", bytes.len());
    let m = hie_hl7::parse(bytes).unwrap();
    let t = Instant::now();
    for _ in 0..n {
        black_box(m.get(black_box(&path)));
    }
    println!("lookup alone: {:?}", t.elapsed() / n);
    let t = Instant::now();
    for _ in 0..n {
        black_box(hie_hl7::MessageBuf::from_message(&m).to_bytes());
    }
    println!("MessageBuf from message + to_bytes: {:?}", t.elapsed() / n);
}
