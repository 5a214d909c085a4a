"""Dataset readers that turn folders of photos into manifests the trainers read."""
