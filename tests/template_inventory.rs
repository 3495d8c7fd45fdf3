//! Finding a pool's templates containers (`template list`, `gc` and `build`
//! without `--parent` scan for them): every `.../omicron1-templates` below the
//! pool's root, and nothing else.

use std::path::Path;

use omicron1::template::inventory::containers;
use omicron1_zfs::{CreateOptions, DatasetName, FakeZfs, PoolName, Zfs};

fn create(zfs: &FakeZfs, name: &str) {
    let ds: DatasetName = name.parse().unwrap();
    let opts = CreateOptions {
        parents: true,
        properties: &[("canmount", "off")],
    };
    zfs.create(&ds, &opts).unwrap();
}

#[test]
fn containers_are_the_omicron1_templates_datasets_below_the_root() {
    let zfs = FakeZfs::new();
    let pool: PoolName = "omicron1-templates".parse().unwrap();
    zfs.add_pool(&pool, Path::new("/nonexistent/pool"));
    let other: PoolName = "tp".parse().unwrap();
    zfs.add_pool(&other, Path::new("/nonexistent/tp"));
    assert_eq!(containers(&zfs, &pool).unwrap(), Vec::<DatasetName>::new());
    for name in [
        "omicron1-templates/crypt/zone/omicron1-templates",
        "omicron1-templates/crypt/zone/z1",
        "omicron1-templates/other/omicron1-templates-old",
        "omicron1-templates/x/omicron1-templates",
        "tp/zone/omicron1-templates",
    ] {
        create(&zfs, name);
    }
    let found: Vec<String> = containers(&zfs, &pool)
        .unwrap()
        .iter()
        .map(|d| d.to_string())
        .collect();
    assert_eq!(
        found,
        [
            "omicron1-templates/crypt/zone/omicron1-templates",
            "omicron1-templates/x/omicron1-templates",
        ],
        "not the pool's root, though it has the name; not other names; not other pools"
    );
}
